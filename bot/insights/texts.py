"""Bilingual labels of the insights pages, in the console's "English · 中文" style. One catalogue for the concern."""

from __future__ import annotations

OUTCOMES = {
    "answered": "Direct answer · 直接回答",
    "choice": "Choice offered · 提供选项",
    "not_covered": "Not covered · 未涵盖",
    "handoff": "Handed to staff · 转人工",
    "other": "Other (checklist, case, …) · 其他",
}
STEPS = {
    "preliminary": "Preliminary review within 1 working day · 1个工作日内预审",
    "same_day_review": "Review on the day of acceptance · 受理当日审查",
    "conclusion": "Conclusion within 3 working days · 3个工作日内办结",
}
HOURS = {"in": "In office hours · 工作时间内", "out": "Out of office hours · 工作时间外"}
LANGUAGES = {"en": "English · 英文", "zh": "Chinese · 中文", "unknown": "Unknown · 未知"}
TITLES = {
    "conversations_by_day": "Conversations and questions by day · 每日对话与提问",
    "by_language": "By language · 按语言",
    "by_topic": "Questions by topic · 按主题提问",
    "outcomes": "Outcomes of questions · 提问结果",
    "ratings": "Answers rated, by section · 按章节的回答评价",
    "top_sections": "Sections asked about most · 最常被问到的章节",
    "tickets": "Staff: tickets and waits (minutes) · 人工：工单与等待（分钟）",
    "satisfaction": "Satisfaction ratings · 满意度评分",
    "promise": "Promise met, by step · 承诺时限达成率",
    "late": "Late steps · 超时环节",
    "corrections": "Sent back for correction, by procedure · 按事项的补正率",
    "materials": "Materials most often requested · 最常要求补正的材料",
    "checklist": "Cases verified in a chat: checklist first? · 聊天中核验的案件：是否先生成清单",
}
HEAD = {
    "day": "Day · 日期",
    "conversations": "Conversations · 对话",
    "questions": "Questions · 提问",
    "language": "Language · 语言",
    "topic": "Topic · 主题",
    "outcome": "Outcome · 结果",
    "share": "Share · 占比",
    "section": "Section · 章节",
    "helpful": "Helpful · 有帮助",
    "not_helpful": "Not helpful · 没帮助",
    "answers": "Answers given · 回答次数",
    "hours": "When · 时段",
    "tickets": "Tickets · 工单",
    "claim_median": "Claim, median · 接单中位数",
    "claim_p90": "Claim, p90 · 接单P90",
    "resolve_median": "Resolve, median · 办结中位数",
    "resolve_p90": "Resolve, p90 · 办结P90",
    "rating": "Rating (1–5) · 评分",
    "count": "Count · 数量",
    "step": "Step · 环节",
    "due": "Steps due · 应办环节",
    "met": "Met · 按时",
    "case": "Case (masked) · 案件（已遮蔽）",
    "procedure": "Procedure · 事项",
    "due_day": "Due · 期限",
    "done_day": "Done · 完成",
    "days_late": "Working days late · 超时工作日",
    "received": "Received · 收件",
    "sent_back": "Sent back · 补正",
    "item": "Material requested · 补正材料",
    "checklist_first": "Checklist first · 先生成清单",
    "cases": "Cases · 案件",
}
YES_NO = {True: "Yes · 是", False: "No · 否"}
OPEN = "open · 未完成"
NOTES = {
    "late": "Case numbers are masked. · 案件编号已遮蔽。",
    "promise": (
        "A step counts once it is done or overdue; Chinese working days (Asia/Shanghai). · "
        "环节完成或超期后计入；按中国工作日计算。"
    ),
    "tickets": "Median: middle value; p90: nearest rank. · 中位数取中间值；P90取最近秩。",
}
REPORT = {
    "inquiries": "Inquiries received · 受理咨询",
    "questions": "Questions asked in the chat · 聊天中的提问",
    "reviewed": "Cases reviewed and processed · 审查办结案件",
    "received": "Cases received · 收件",
}
