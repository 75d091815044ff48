"""Every string the uploader shows, in English and Chinese: one ``Texts`` per language (pure, no ``js``).

The page at ``/`` speaks English; the embedded uploader (``/embed``) takes ``lang`` (``en`` | ``zh``). The
words of the embed document before Python has started, and the language pick, are shared with the server,
which renders them: ``wire/languages.py`` (``Texts`` extends its ``StartupTexts``). What the server says (an
error envelope's ``msg``) is shown as the server sent it; only the messages the client makes itself are
translated: its states, buttons and hints, its own refusals (type, size) and the engine's own errors (by
code; in English the engine's more specific message is kept).

Templates use ``str.format`` names (``{name}``); both languages use the same names for the same string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType

from frontend.engine.state import UploadState
from wire.languages import EN_STARTUP, ZH_STARTUP, StartupTexts, pick_lang

S = UploadState


@dataclass(frozen=True)
class Texts(StartupTexts):
    # Python's status line
    ready: str
    in_worker: str
    on_main_thread: str
    failed_to_start: str
    # A row
    states: Mapping[UploadState, str]
    button_start: str
    button_pause: str
    button_continue: str
    button_retry: str
    progress_of: str
    waiting: str
    stored_at: str
    # The line under the bar
    hashing_detail: str
    done_of_total: str
    per_second: str
    time_left: str
    retrying_in: str
    retrying_now: str
    server_retrying: str  # the label while retrying after the server answered an error (5xx, 429, 507...)
    paused_detail: str
    finished_detail: str
    separator: str
    # Durations
    seconds: str
    minutes_seconds: str
    minutes: str
    hours_minutes: str
    hours: str
    # The uploader's own refusals (nothing is sent)
    not_accepted: str
    too_large: str
    # The engine's own errors by code (``frontend.engine.errors.Err`` names); None: the engine's own message
    engine_errors: Mapping[str, str] | None
    # The page's list of downloadable files
    downloads_none: str
    downloads_failed: str

    def state(self, state: UploadState) -> str:
        return self.states[state]

    def error(self, code: str | None, message: str | None) -> str | None:
        """The message to show for an error: the engine's own errors translated, the server's as sent."""
        if message is None:
            return None
        if self.engine_errors is not None and code in self.engine_errors:
            return self.engine_errors[code]
        return message


def _states(**by_name: str) -> Mapping[UploadState, str]:
    return MappingProxyType({S[name]: label for name, label in by_name.items()})


# Engine error codes that only the engine produces (the server's catalogue also has INTERNAL; SERVER never
# reaches a snapshot: a server error carries the server's own name). tests/unit/test_i18n.py checks both.
ENGINE_ONLY_CODES = (
    "NETWORK",
    "BAD_RESPONSE",
    "READ_FAILED",
    "FILE_CHANGED",
    "CHUNK_RESEND_LIMIT",
    "UPLOAD_LOST_LIMIT",
    "RETRIES_EXHAUSTED",
    "ILLEGAL_TRANSITION",
)

EN = Texts(
    **asdict(EN_STARTUP),
    ready="Ready · Python {python} (Pyodide {pyodide}) {where}",
    in_worker="in a worker",
    on_main_thread="on the main thread",
    failed_to_start="Python failed to start: see the browser console",
    states=_states(
        NO_FILE="No file",
        CHOSEN="Ready to send",
        HASHING="Reading the file",
        UPLOADING="Uploading",
        PAUSED="Paused",
        RETRYING="Connection lost, retrying",
        FINISHED="Done",
        FAILED="Failed",
    ),
    button_start="Start",
    button_pause="Pause",
    button_continue="Continue",
    button_retry="Retry",
    progress_of="Progress of {name}",
    waiting="Waiting…",
    stored_at="Stored at",
    hashing_detail="{label}… {percent}%",
    done_of_total="{done} of {total}",
    per_second="{speed}/s",
    time_left="{time} left",
    retrying_in="{label} in {time} (attempt {attempt})",
    server_retrying="The server cannot take it now, retrying",
    retrying_now="{label} (attempt {attempt})",
    paused_detail="{label} at {done} of {total}",
    finished_detail="{label}: {total} stored",
    separator=" · ",
    seconds="{s} s",
    minutes_seconds="{m} min {s} s",
    minutes="{m} min",
    hours_minutes="{h} h {m} min",
    hours="{h} h",
    not_accepted="{name}: this type of file is not accepted here (accepted: {accept})",
    too_large="{name} is {size}; files of at most {max} are accepted here",
    engine_errors=None,
    downloads_none="No files to download yet.",
    downloads_failed="The list could not be loaded: {msg}",
)

ZH = Texts(
    **asdict(ZH_STARTUP),
    ready="就绪 · Python {python}（Pyodide {pyodide}）{where}",
    in_worker="在 worker 中运行",
    on_main_thread="在主线程运行",
    failed_to_start="Python 启动失败：请查看浏览器控制台",
    states=_states(
        NO_FILE="未选择文件",
        CHOSEN="等待开始",
        HASHING="正在读取文件",
        UPLOADING="正在上传",
        PAUSED="已暂停",
        RETRYING="连接中断，正在重试",
        FINISHED="完成",
        FAILED="失败",
    ),
    button_start="开始",
    button_pause="暂停",
    button_continue="继续",
    button_retry="重试",
    progress_of="{name} 的上传进度",
    waiting="等待中…",
    stored_at="已保存到",
    hashing_detail="{label}… {percent}%",
    done_of_total="{done} / {total}",
    per_second="{speed}/秒",
    time_left="剩余 {time}",
    retrying_in="{label}：{time}后重试（第 {attempt} 次）",
    server_retrying="服务器暂时无法接收，正在重试",
    retrying_now="{label}（第 {attempt} 次）",
    paused_detail="{label}：{done} / {total}",
    finished_detail="{label}：已保存 {total}",
    separator=" · ",
    seconds="{s} 秒",
    minutes_seconds="{m} 分 {s} 秒",
    minutes="{m} 分钟",
    hours_minutes="{h} 小时 {m} 分",
    hours="{h} 小时",
    not_accepted="{name}：此处不接受这种类型的文件（可接受：{accept}）",
    too_large="{name} 的大小为 {size}，此处最多接受 {max}",
    engine_errors=MappingProxyType(
        {
            "NETWORK": "无法连接服务器",
            "BAD_RESPONSE": "服务器的应答不是预期的 {code, msg, data} 格式",
            "READ_FAILED": "无法读取文件",
            "FILE_CHANGED": "文件在选择之后被修改了，请重新选择",
            "CHUNK_RESEND_LIMIT": "有一个分片多次到达服务器时都已损坏",
            "UPLOAD_LOST_LIMIT": "服务器多次丢失了这次上传",
            "RETRIES_EXHAUSTED": "服务器一直无法连接，请稍后再试",
            "ILLEGAL_TRANSITION": "当前状态下不能执行此操作",
        }
    ),
    downloads_none="还没有可下载的文件。",
    downloads_failed="无法加载列表：{msg}",
)

LANGUAGES: Mapping[str, Texts] = MappingProxyType({"en": EN, "zh": ZH})  # as wire.languages.STARTUP_TEXTS


def texts_for(tag: str | None) -> Texts:
    return LANGUAGES[pick_lang(tag)]


def string_fields() -> list[str]:
    """The names of the plain template fields of ``Texts`` (for tests and tools)."""
    return [f.name for f in fields(Texts) if f.type == "str"]
