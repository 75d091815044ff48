"""The embedded uploader's ``lang`` option, and the words its document shows before Python has started.

The server renders the frame's document (``server/embed.py``) in the chosen language, so its title, drop
hint, button and waiting notes are right at once; everything Python says later is in the browser's texts
(``frontend/browser/i18n.py``, whose ``Texts`` extend ``StartupTexts``). The page at ``/`` has its startup
words in its HTML, in English.

Templates use ``str.format`` names (``{count}``); both languages use the same names for the same string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class StartupTexts:
    lang: str  # BCP 47 tag, for <html lang>
    title: str
    drop_hint: str
    drop_hint_one: str  # when only one file may be chosen
    choose: str
    choose_one: str
    starting: str
    waiting_one: str  # files chosen before Python is ready (static/intake.js fills in {count})
    waiting_many: str


EN_STARTUP: Final = StartupTexts(
    lang="en",
    title="Resumable upload",
    drop_hint="Drop files here, or",
    drop_hint_one="Drop a file here, or",
    choose="Choose files…",
    choose_one="Choose a file…",
    starting="Starting Python…",
    waiting_one="{count} file waiting for Python to start…",
    waiting_many="{count} files waiting for Python to start…",
)

ZH_STARTUP: Final = StartupTexts(
    lang="zh-CN",
    title="断点续传上传",
    drop_hint="将文件拖到这里，或",
    drop_hint_one="将一个文件拖到这里，或",
    choose="选择文件…",
    choose_one="选择一个文件…",
    starting="正在启动 Python…",
    waiting_one="{count} 个文件等待 Python 启动…",
    waiting_many="{count} 个文件等待 Python 启动…",
)

STARTUP_TEXTS: Final[Mapping[str, StartupTexts]] = MappingProxyType({"en": EN_STARTUP, "zh": ZH_STARTUP})
DEFAULT_LANG: Final = "en"


def pick_lang(tag: str | None) -> str:
    """``"zh-CN"``, ``"zh_TW"``, ``"ZH"`` -> ``"zh"``; anything not built in -> English."""
    primary = (tag or "").strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in STARTUP_TEXTS else DEFAULT_LANG
