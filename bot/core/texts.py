"""Every sentence the bot says on its own behalf, in one place.

Written for screen readers: the point first, short plain sentences, no emoji, no Markdown,
numbers as digits. Adapters may add platform words (a slash, a button) but not rewrite these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.preferences import Preferences

HELP = """I describe photos and answer questions about them.
Send me a photo and I will tell you what is in it.
Add a caption to the photo to ask a question straight away.
After that, type a question about the photo, for example: what colour is the door?
Commands:
/describe: describe the current photo again, in full detail.
/read: read out the text in the photo.
/scan: look for a QR code or barcode in the photo and tell you what it holds.
/light: how much light there is in the photo, and whether a light seems to be on.
/colour: the main colours in the photo. /color works too.
/alt: a short description to use as alt text.
/detail brief, normal or full: how much I say about a new photo.
/voice on or off: also send my answers as voice messages.
/codes on or off: tell you about QR codes and barcodes in each new photo.
/lighthints on or off: tell you when a photo is too dark, too bright or blurred.
/colourcheck on or off: answer "what colour is it?" with the colours measured in the photo.
/language: the language of the text I read, for example /language eng.
/settings: show your settings.
/reset: start over with no current photo.
/forget: delete everything I stored for this chat. In a group, only its admins can.
/privacy: what I store and for how long.
/help: show this message.
My answers come from an AI model. They can be wrong, so please double check anything important."""

PRIVACY = """I store the photos you send, your questions and my answers, to answer follow-up questions.
They stay on the server that runs me, for at most {days} days, then they are deleted automatically.
They are never sent to any other service.
Use /forget to delete everything of this chat now."""

NEED_PHOTO = "Please send me a photo first, then ask your question about it."
RESET_DONE = "Done. I have put the last photo aside. Send a new photo to start again."
FORGET_DONE = "Done. I have deleted your photos, questions and answers in this chat."
FORGET_CONFIRM = "This deletes every photo, question and answer I stored for this chat. It cannot be undone."
FORGET_CANCELLED = "Nothing was deleted."
BUSY = "I am busy with many photos right now. Please try again in a minute."
TIMEOUT = "Sorry, that took too long and I gave up. Please try again."
STOPPING = "Sorry, I am restarting and could not finish. Please send it again in a minute."
FAILED = "Sorry, something went wrong while I looked at the photo. Please try again."
UNAVAILABLE = "Sorry, I cannot answer right now. Please try again in a minute."
CAPTION_ONLY = "This model can only describe photos. It cannot answer questions about them."
PHOTO_GONE = "That photo has just been deleted. Please send it again."
NO_TEXT_FOUND = "I found no readable text in this photo."
OCR_UNAVAILABLE = "Sorry, reading text is not available on this server right now."
VOICE_UNAVAILABLE = "Sorry, voice replies are not available on this server."
#: How a /read is recorded in the conversation history.
READ_QUESTION = "What does the text say?"
NOT_AN_IMAGE = "I can only look at pictures. Please send a photo, or an image file such as JPEG or PNG."
EMPTY_QUESTION = "Please type a question about the photo."
NO_CODES = "I found no QR code or barcode in this photo. Try again with the code nearer and in focus."
#: How /scan, /light and /colour are recorded in the conversation history.
SCAN_QUESTION = "Is there a QR code or barcode?"
LIGHT_QUESTION = "How much light is there?"
COLOUR_QUESTION = "What are the main colours?"

# -- Said by the light and colour checks (light.py, colours.py) --------------------------
# The code sentences are built from what each code holds, so they stay in codes.py.

VERY_DARK_HINT = "This photo is very dark. Try again with more light."
OVEREXPOSED_HINT = "This photo is very bright, perhaps facing a light. Try again with the light behind you."
BLURRED_HINT = "This photo is blurred. Hold the camera still and try again."
#: /light's words for how bright a photo is, darkest first.
IT_IS_DARK = "It is dark."
IT_IS_FAIRLY_DARK = "It is fairly dark."
IT_IS_FAIRLY_BRIGHT = "It is fairly bright."
IT_IS_BRIGHT = "It is bright."
LAMP_SEEN = " There is a bright spot that may be a light that is on."
WINDOW_SEEN = " There is a large bright area, perhaps a window or a light that is on."
GLARE_SEEN = " Much of the photo is too bright to see, perhaps a window or a light facing the camera."
NO_LIGHT_SEEN = " I see no bright spot that could be a light that is on."
NO_COLOURS = "I could not make out any colours."


def text_found(text: str) -> str:
    return f"The text reads: {text}"


def settings_summary(prefs: Preferences) -> str:
    voice = "on" if prefs.voice else "off"
    codes = "on" if prefs.codes else "off"
    light = "on" if prefs.light_hints else "off"
    colours = "on" if prefs.colours else "off"
    return (
        f"Your settings:\nDetail: {prefs.detail}.\nVoice replies: {voice}.\n"
        f"QR codes and barcodes: {codes}.\nLight hints: {light}.\nColour check: {colours}.\n"
        f"Reading language: {prefs.ocr_language}.\nAlt text length: {prefs.alt_text_chars} characters.\n"
        "Change them with /detail, /voice, /codes, /lighthints, /colourcheck, /language and /alt "
        "followed by the new value."
    )


def setting_changed(name: str, value: object) -> str:
    if name == "detail":
        return f"Done. I will give {value} descriptions from now on."
    if name == "voice":
        if value:
            return "Done. I will also send my answers as voice messages."
        return "Done. No more voice messages."
    if name == "codes":
        if value:
            return "Done. I will tell you about QR codes and barcodes in your photos."
        return "Done. I will not look for QR codes and barcodes."
    if name == "light_hints":
        if value:
            return "Done. I will tell you when a photo is too dark, too bright or blurred."
        return "Done. No more hints about light."
    if name == "colours":
        if value:
            return "Done. When you ask what colour something is, I will measure the colours in the photo."
        return "Done. The AI model will answer questions about colours. /colour still measures them."
    if name == "ocr_language":
        return f"Done. I will read text in {value}."
    if name == "alt_text_chars":
        return f"Done. Alt text will be at most {value} characters."
    return "Done."


def place_in_line(position: int) -> str:
    """The message shown while others are ahead in the queue."""
    if position <= 1:
        return "You are next in line. Your answer is coming soon."
    return f"You are number {position} in line. Your answer is coming soon."


def rate_limited(seconds: float) -> str:
    wait = max(1, round(seconds))
    unit = "second" if wait == 1 else "seconds"
    return f"You have sent a lot of photos in a short time. Please wait {wait} {unit} and try again."


# -- Said by the chat adapters ----------------------------------------------------------

NO_IMAGES_IN_MESSAGE = "That message has no pictures I can look at."
DOWNLOAD_FAILED = "I could not download that picture. Please try again."


def attachment_too_large(limit_bytes: int) -> str:
    return f"That file is too large. Please send a picture under {max(1, limit_bytes // (1024 * 1024))} MB."


NOT_ALLOWED = "Sorry, I am not available in this chat."
UNKNOWN_COMMAND = "I do not know that command. Send /help to see what I can do."
FORGET_YES = "Yes, delete everything"
FORGET_NO = "No, keep it"
FORGET_NOT_YOURS = "Only the person who asked can answer this."
FORGET_ADMINS_ONLY = "Only group admins can delete this group's history."


def numbered(index: int, total: int, text: str, noun: str = "Photo") -> str:
    """One answer of several about the pictures of one album or message: "Photo 2 of 3: ..."."""
    return f"{noun} {index} of {total}: {text}"


def ocr_languages(current: str, installed: list[str]) -> str:
    """/language without a code: the reading language now, and the ones installed."""
    return (
        f"I read text in {current}. The languages I can read are: {', '.join(installed)}. "
        "To change it, use /language with one of these codes."
    )
