"""/help on Discord: the slash commands and the menu, one line each, written for a screen reader."""

from __future__ import annotations

HELP = """I describe pictures and answer questions about them.
Commands:
/describe with an image: I tell you what is in the picture. Set detail to True for a longer description.
/ask with a question: I answer it about your last picture. Attach an image to ask about a new one.
/read: I read out the text in your last picture. Attach an image to read a new one.
/scan: I look for a QR code or barcode in your last picture. Attach an image to scan a new one.
/light: how much light there is in your last picture. Attach an image for a new one.
/colour: the main colours in your last picture. Attach an image for a new one.
/alt: a short description of your last picture to use as alt text. Attach an image for a new one.
/alt with a length: the most characters alt text may have, from 20 to 1000.
Describe image: open the Apps menu of any message with pictures and choose Describe image.
/detail: how much I say about a new picture, brief, normal or full.
/voice on or off: also send my answers as audio files.
/codes on or off: tell you about QR codes and barcodes in each new picture.
/lighthints on or off: tell you when a picture is too dark, too bright or blurred.
/colourcheck on or off: answer "what colour is it?" with the colours measured in the picture.
/language: the language of the text I read. Leave the code out to see the ones I know.
/settings: show your settings.
/reset: start over with no current picture.
/forget: delete everything I stored for you in this channel.
/privacy: what I store and for how long.
/help: show this message.
My answers come from an AI model. They can be wrong, so please double check anything important."""
HELP_MENTIONS = "You can also mention me in a message with a picture or a question, or reply to my answer."
