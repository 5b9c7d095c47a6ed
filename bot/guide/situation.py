"""What the asker's own words say about their situation, beyond which section answers it.

Some situations need a person whatever section the question lands on: a dispute with the employer, documents
withheld, an application refused, an overstay or work without a permit. The guide can say what the rules are,
but only staff can look at the case, so the reply offers a person first. The cues are the applicants' own
words (English, Chinese and the mixed forms), matched case-insensitively.
"""

from __future__ import annotations

import re

_PERSON_CUES = re.compile(
    r"dispute|refus|reject|denied|deny|withh[oe]ld|won'?t (?:give|return|let|cancel|release|sign)"
    r"|(?:not|never) (?:give|giving|return|returning) (?:me )?(?:back )?(?:my|the|his|her) "
    r"(?:passport|documents?|diploma|card)"
    r"|holding (?:my|his|her) (?:passport|documents?|diploma)|keeps? (?:my|his|her) passport"
    r"|owe[sd]? (?:me|him|her)|broke(?:n)? (?:the |my |parts of the )?contract"
    r"|unpaid|overst|over-?stay|expired \d+ days? ago|illegal|black ?list|appeal|complain"
    r"|纠纷|拒绝|被拒|不予许可|不批|驳回|申诉|复议|投诉|扣(?:着|留|押)?(?:我的|他的|员工的)?护照|不给(?:办|开|还|签)|不还"
    r"|不配合|拖着|(?:签证|居留许可|居留证|居留|visa)\S{0,4}过期|逾期|超期|滞留|黑户|非法|违法|罚款|遣返|欠(?:工资|薪)|违约金|仲裁|连带责任|违反合同",
    re.IGNORECASE,
)


def needs_person(text: str) -> bool:
    """The message describes a situation where a person should be offered first (see the module docstring)."""
    return bool(_PERSON_CUES.search(text or ""))
