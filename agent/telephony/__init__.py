"""Telephony: everything that knows the call is a phone call.

    caller.py         who is calling, from the SIP bridge's participant attributes
    destinations.py   transfer destinations (SIP/tel URIs, warm-transfer numbers), parsed once
    keypad.py         DTMF digits: "0" for a human, PIN entry
    cold_transfer.py  SIP REFER to a department, with a fallback destination
    warm_transfer.py  hold, dial a colleague into the room, brief them, connect
    dialer.py         the one CreateSIPParticipant call and its outcome classification
    outbound.py       calls the agent places: dispatch, dial, answering-machine detection
    end_call.py       the end_call tool (goodbye, then the room is deleted)

Kept free of re-exports on purpose: `agent.config` imports `destinations`, and importing a
submodule runs this file first.
"""
