"""What the caller hears when a provider fails: fixed lines, each with the reason it exists.

All of them are pre-rendered (voice.py): rendered through the primary voice at prewarm and
cached, or the bundled espeak-ng recording, so they play at once and without a working TTS.
"""

from __future__ import annotations

# A reply is taking long (the model or the voice is slow or stalled): said on its own track
# over the pending reply, without cancelling it (replies.py, the watchdog).
HOLD = "One moment, please."
STILL_HOLDING = "Thanks for holding, I'm still on it."
# The model failed a turn (every LLM tried): said, then the turn is tried once more.
TROUBLE = "Sorry, I'm having a little trouble on my end. One moment, please."
# An answer was cut short (the stream or the voice broke mid-sentence): said, then answered
# again from the start.
SAY_AGAIN = "Sorry, let me say that again."
# The model answered with nothing speakable (an empty answer, tools only, a tool loop).
DIDNT_GET_THAT = "Sorry, I didn't get that. Could you say it another way?"
# The caller spoke and no transcript came back.
REPEAT_PLEASE = "Sorry, I didn't catch that. Could you say it again?"
# Speech recognition is down: the keypad still works on a phone.
KEYPAD = ("I'm sorry, I'm having trouble hearing you. Please use your keypad: press zero "
          "to talk to a person.")
# The voice failed: said in the pre-rendered voice, then the answer is spoken again.
VOICE_TROUBLE = "Sorry, I'm having trouble with my voice."
# The handover: a transfer to a human, or else a callback offer on the keypad.
HANDOVER = "Let me connect you with a colleague. Please hold."
CALLBACK_OFFER = ("Sorry, nobody can take the call right now. To have a colleague call you "
                  "back on this number, press one.")
CALLBACK_BOOKED = "Thank you. A colleague will call you back soon. Goodbye."
CALL_AGAIN = "I'm sorry we couldn't help you right now. Please call again later. Goodbye."

PRERENDERED: dict[str, str] = {
    "hold": HOLD,
    "still_holding": STILL_HOLDING,
    "trouble": TROUBLE,
    "say_again": SAY_AGAIN,
    "didnt_get_that": DIDNT_GET_THAT,
    "repeat_please": REPEAT_PLEASE,
    "keypad": KEYPAD,
    "voice_trouble": VOICE_TROUBLE,
    "handover": HANDOVER,
    "callback_offer": CALLBACK_OFFER,
    "callback_booked": CALLBACK_BOOKED,
    "call_again": CALL_AGAIN,
}
