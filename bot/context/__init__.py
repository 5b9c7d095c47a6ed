"""The conversation's context: the procedure, category, situation and dates it has heard, carried from turn to
turn in slots, so a follow-up ("what about category A?", "我太太呢？") is answered for the right case."""
