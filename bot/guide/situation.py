"""What the asker's own words say about their situation, beyond which section answers it.

Two readings, both data in knowledge/situations.yml (with the reason for each cue group and the public posts its
wording comes from), so editors change words, not code:
- a person is needed: a dispute with the employer, documents withheld, an application refused, an overstay or
  work without a permit, a case no published rule covers. The guide can say what the rules are, but only staff
  can look at the case, so the reply offers a person first;
- the slots the guide distinguishes on (in or outside China, category, whose family, expired or expiring): the
  reply answers the matching variant, or asks one question when the guide distinguishes and the message is silent.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.guide.loader import Guide
from bot.guide.models import Distinction, Localized, Situations, Slot


def person_reasons(text: str, situations: Situations) -> tuple[str, ...]:
    """The ids of the cue groups the message matches (empty: nothing says a person is needed)."""
    return tuple(group.id for group in situations.person if group.pattern.search(text or ""))


def needs_person(text: str, situations: Situations) -> bool:
    """The message describes a situation where a person should be offered first (see the module docstring)."""
    return bool(person_reasons(text, situations))


# A post this long tells the asker's own case (dates, history, what someone said): the guide answers the general
# rule, and staff are offered after it, in case the rule does not settle that case. The same length marks a long
# post in the eval (bot/evaluation/grading.py, LONG_CHARS).
OWN_CASE_CHARS = 150


def tells_own_case(text: str) -> bool:
    """The message is long enough to describe a particular case rather than ask a general question."""
    return len((text or "").strip()) > OWN_CASE_CHARS


def read_slot(text: str, slot: Slot) -> str | None:
    """The slot's value the message states: the value whose cues match, None when none or several do, or when
    the message compares the values (the slot's `compares` cues)."""
    if slot.compares is not None and slot.compares.search(text or ""):
        return None
    found = [value.id for value in slot.values if value.pattern.search(text or "")]
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class Situated:
    """What the situation does to an answer: the section answered, its key fact for this case, or one question."""

    section: str
    key_fact: Localized | None = None
    # The distinction whose slot the message did not state: the reply asks it once.
    ask: Distinction | None = None
    slot_value: str | None = None


def situate(guide: Guide, section_id: str, text: str, stated: dict[str, str] | None = None) -> Situated:
    """Apply the first distinction that covers the answered section: pick the stated case, else ask for it.

    `stated` holds slots already answered (a situation button); the message's words fill the rest.
    """
    for distinction in guide.situations.distinctions:
        if section_id not in distinction.sections:
            continue
        slot = guide.situations.slots[distinction.slot]
        value = (stated or {}).get(slot.id) or read_slot(text, slot)
        variant = distinction.variants.get(value) if value else None
        if variant is None:
            if distinction.ask and value is None:
                return Situated(section_id, ask=distinction)
            continue
        if variant.section and variant.section in guide.sections:
            return Situated(variant.section, slot_value=value)
        return Situated(section_id, key_fact=variant.key_fact, slot_value=value)
    return Situated(section_id)
