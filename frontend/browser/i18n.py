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

from frontend.engine.download_state import DownloadState
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
    # Downloads into the page (``download_view.py``): the states only downloads have, the rest as uploads'
    download_new: str
    download_checking: str
    download_downloading: str
    download_verifying: str
    download_finished: str
    download_discarded: str
    button_download: str
    button_remove: str
    download_save: str
    button_save_as: str  # where the browser has showSaveFilePicker
    saved_as_detail: str  # {name}: the name of the file chosen
    save_as_failed: str  # {error}: the browser's reason
    verifying_detail: str
    download_finished_detail: str
    checked_against: str
    not_checked: str
    # Uploads remembered across a reload (``plan_store.py``): their rows until the file is chosen again
    remembered_detail: str
    remembered_plain: str  # how much was sent is not known (the page did not note it yet)
    button_forget: str
    rehashing_detail: str  # a remembered plan did not fit the file: hashed again
    # The page's own words (its HTML is in English; Python writes these over it in another language)
    page_upload_heading: str
    page_downloads_heading: str
    page_drop_note: str

    def state(self, state: UploadState) -> str:
        return self.states[state]

    def download_state(self, state: DownloadState) -> str:
        own = {
            DownloadState.NEW: self.download_new,
            DownloadState.CHECKING: self.download_checking,
            DownloadState.DOWNLOADING: self.download_downloading,
            DownloadState.VERIFYING: self.download_verifying,
            DownloadState.FINISHED: self.download_finished,
            DownloadState.DISCARDED: self.download_discarded,
        }
        return own.get(state) or self.states[UploadState(state.value)]  # pause, retrying, failed

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
    "NO_SPACE",
    "STORAGE_FAILED",
    "STORAGE_BUSY",
    "UNEXPECTED_ANSWER",
    "SEGMENT_DAMAGED",
    "DOWNLOAD_MISMATCH",
    "FILE_KEEPS_CHANGING",
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
    download_new="Waiting",
    download_checking="Checking the file",
    download_downloading="Downloading",
    download_verifying="Verifying",
    download_finished="Saved",
    download_discarded="Removed",
    button_download="Download",
    button_remove="Remove",
    download_save="Save the file again",
    button_save_as="Save as…",
    saved_as_detail="Also saved as {name}",
    save_as_failed="Could not save it there ({error}); the file was saved the normal way",
    verifying_detail="{label}… {percent}%",
    download_finished_detail="{label}: {total}, {check}",
    checked_against="checked against the server's {digests}",
    not_checked="not checked: the server gave no digest",
    remembered_detail="Unfinished: {done} of {total} sent. Choose the file again to continue, without "
    "reading it again",
    remembered_plain="Unfinished. Choose the file again to continue, without reading it again",
    button_forget="Forget",
    rehashing_detail="The file changed since it was last read: reading it again… {percent}%",
    page_upload_heading="Upload",
    page_downloads_heading="Files on the server",
    page_drop_note="Uploads resume after a pause, a lost connection or a reload: choose the same file again "
    "and only the missing parts are sent.",
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
            "NO_SPACE": "浏览器的存储空间不足，放不下这个文件：请清理空间后重试",
            "STORAGE_FAILED": "无法写入浏览器的存储",
            "STORAGE_BUSY": "这个下载正在另一个标签页中进行",
            "UNEXPECTED_ANSWER": "服务器的应答不是所请求的那部分文件",
            "SEGMENT_DAMAGED": "文件的某一部分多次到达时都已损坏",
            "DOWNLOAD_MISMATCH": "下载的文件与服务器给出的摘要不符",
            "FILE_KEEPS_CHANGING": "下载期间文件在服务器上不断变化",
        }
    ),
    downloads_none="还没有可下载的文件。",
    downloads_failed="无法加载列表：{msg}",
    download_new="等待中",
    download_checking="正在检查文件",
    download_downloading="正在下载",
    download_verifying="正在校验",
    download_finished="已保存",
    download_discarded="已移除",
    button_download="下载",
    button_remove="移除",
    download_save="再次保存文件",
    button_save_as="另存为…",
    saved_as_detail="已另存为 {name}",
    save_as_failed="无法保存到该位置（{error}）；文件已按常规方式保存",
    verifying_detail="{label}… {percent}%",
    download_finished_detail="{label}：{total}，{check}",
    checked_against="已与服务器的 {digests} 核对",
    not_checked="未核对：服务器没有提供摘要",
    remembered_detail="未完成：已发送 {done} / {total}。再次选择该文件即可继续，无需重新读取",
    remembered_plain="未完成。再次选择该文件即可继续，无需重新读取",
    button_forget="忘记",
    rehashing_detail="文件在上次读取后被修改了：正在重新读取… {percent}%",
    page_upload_heading="上传",
    page_downloads_heading="服务器上的文件",
    page_drop_note="暂停、断网或刷新页面后都能继续上传：再次选择同一个文件，只会发送缺少的部分。",
)

LANGUAGES: Mapping[str, Texts] = MappingProxyType({"en": EN, "zh": ZH})  # as wire.languages.STARTUP_TEXTS


def texts_for(tag: str | None) -> Texts:
    return LANGUAGES[pick_lang(tag)]


def string_fields() -> list[str]:
    """The names of the plain template fields of ``Texts`` (for tests and tools)."""
    return [f.name for f in fields(Texts) if f.type == "str"]
