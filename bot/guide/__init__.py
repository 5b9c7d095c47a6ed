"""The service guide: loading and validating `knowledge/`, the single source of truth for content."""

from bot.guide.loader import Guide, load_guide
from bot.guide.models import LANGS, TOPICS, GuideSection, Localized

__all__ = ["Guide", "GuideSection", "LANGS", "Localized", "TOPICS", "load_guide"]
