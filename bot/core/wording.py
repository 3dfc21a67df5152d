"""How answers are worded for the people who listen to them.

Pure functions: weave a caption and the answers to the detail questions into a few short
sentences without saying anything twice, hedge answers the model was unsure of, and cut alt
text at a word boundary. Numbers stay digits; nothing here adds symbols a screen reader reads out.
"""

from __future__ import annotations

import re

from inference.prompts import NO_ANSWER

NOT_SURE_PREFIX = "I'm not sure, but"
_NO_WORDS = {"no", "none", "nobody", "nothing", "zero", "0", "no one", "not", "there is no"}
_COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10}  # fmt: skip
# "one" stays a word: it is as often a pronoun ("the red one") as a count.
_NUMBER_WORD = re.compile(r"\b(two|three|four|five|six|seven|eight|nine|ten)\b", re.IGNORECASE)
_STOP_WORDS = {"a", "an", "the", "of", "in", "on", "and", "with", "is", "are", "it", "there", "this", "to",
               "at", "its", "some", "picture", "photo", "image"}  # fmt: skip


def sentence(text: str) -> str:
    """Capitalised, ending in a full stop, so a screen reader pauses where a reader would.

    Counts are written as digits ("two cups" -> "2 cups"): shorter to hear, easier to scan.
    """
    text = _NUMBER_WORD.sub(lambda m: str(_COUNT_WORDS[m.group(0).lower()]), text.strip())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def hedge(text: str, unsure: bool, *, is_answer: bool = False) -> str:
    """`text` as a sentence, said plainly to be a guess when the model was unsure of it."""
    text = sentence(text)
    if not unsure or not text or text == NO_ANSWER:
        return text
    lead = "I think the answer is" if is_answer else "it looks like"
    return f"{NOT_SURE_PREFIX} {lead} {_lower_first(text)}"


def is_unsure(mean_logprob: float | None, threshold: float) -> bool:
    return mean_logprob is not None and mean_logprob < threshold


def weave(caption: str, answers: dict[str, str], *, read_text: str | None = None) -> str:
    """A few sentences: the caption, then what the detail answers add that was not said yet.

    `read_text` is what OCR found (full detail); None means OCR did not run. The model's "yes,
    there is writing" is never turned into a claim to have read it.
    """
    sentences = [sentence(caption)] if caption.strip() else []
    said = _content_words(caption)

    def add(text: str, words_from: str) -> None:
        words = _content_words(words_from)
        if words and len(words - said) >= max(1, len(words) // 2):
            sentences.append(sentence(text))
            said.update(words)

    people = _count(answers.get("people", ""))
    if people:
        sentences.append(f"I count {people} {'person' if people == 1 else 'people'}.")
    setting = _meaningful(answers.get("setting", ""))
    if setting:
        add(f"Setting: {_lower_first(setting)}", setting)
    objects = _meaningful(answers.get("objects", ""))
    if objects:
        add(f"I also see {_lower_first(objects)}", objects)
    says_text = _meaningful(answers.get("text", "")).lower().startswith("yes")
    if read_text:
        sentences.append(f"The text reads: {read_text.strip()}")
    elif read_text is not None and says_text:
        sentences.append("It may show some writing, but I could not read it.")
    elif says_text:
        sentences.append("It may show some writing. Send /read and I will try to read it.")
    return " ".join(sentences) if sentences else NO_ANSWER


def alt_text(text: str, limit: int) -> str:
    """At most `limit` characters, ending at a word boundary, never mid-word."""
    whole = re.sub(r"\s+", " ", sentence(text))
    if len(whole) <= limit:
        return whole
    text = whole[:-1] if whole.endswith(".") else whole  # the added full stop must not cost a word
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    at = cut.rfind(" ")
    return (cut[:at] if at > 0 else text[:limit]).rstrip(" ,;:-")


def _meaningful(answer: str) -> str:
    answer = answer.strip().rstrip(".")
    if not answer or answer == NO_ANSWER.rstrip(".") or answer.lower() in _NO_WORDS:
        return ""
    return answer


def _count(answer: str) -> int:
    words = answer.lower().strip(" .").split()
    for word in words:
        if word.isdigit():
            return int(word)
        if word in _COUNT_WORDS:
            return _COUNT_WORDS[word]
    return 0


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _STOP_WORDS}


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if text else text
