"""Every sentence the bot says on its own behalf, in one place.

Written for screen readers: the point first, short plain sentences, no emoji, no Markdown,
numbers as digits. Adapters may add platform words (a slash, a button) but not rewrite these.
"""

from __future__ import annotations

HELP = """I describe photos and answer questions about them.
Send me a photo and I will tell you what is in it.
Add a caption to the photo to ask a question straight away.
After that, type a question about the photo, for example: is there text on it?
Commands:
/describe: describe the current photo again, in more detail.
/reset: start over with no current photo.
/forget: delete everything I stored for this chat.
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
CAPTION_ONLY = "This model can only describe photos. It cannot answer questions about them."
NOT_AN_IMAGE = "I can only look at pictures. Please send a photo, or an image file such as JPEG or PNG."
EMPTY_QUESTION = "Please type a question about the photo."


def place_in_line(position: int) -> str:
    """The message shown while others are ahead in the queue."""
    if position <= 1:
        return "You are next in line. Your answer is coming soon."
    return f"You are number {position} in line. Your answer is coming soon."


def rate_limited(seconds: float) -> str:
    wait = max(1, round(seconds))
    unit = "second" if wait == 1 else "seconds"
    return f"You have sent a lot of photos in a short time. Please wait {wait} {unit} and try again."
