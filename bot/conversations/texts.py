"""What the conversation router itself says (not the bot): kept together so the text catalogue can take them over."""

from __future__ import annotations

UNAVAILABLE = {
    "en": "The assistant is restarting. Your message is saved and will be answered as soon as it is back.",
    "zh": "助手正在重启。您的消息已保存，恢复后会立即回复。",
}
LANGUAGE_SET = {
    "en": "From now on I will answer in English.",
    "zh": "好的，接下来我会用中文回答。",
}
LANGUAGE_AUTO = {
    "en": "I will answer in the language of each message again.",
    "zh": "好的，我会按照您每条消息使用的语言来回答。",
}
HIDDEN_PASSPORT = "🔒 Passport number provided (hidden) · 已提供护照号码（已隐藏）"
LANGUAGE_HELP = {
    "en": "Use /lang zh for Chinese, /lang en for English, or /lang auto.",
    "zh": "输入 /lang zh 切换为中文，/lang en 切换为英文，/lang auto 自动识别。",
}
