"""Call recording with consent: the policy (consent.py), capture through the framework's
RecorderIO and hand-over at the end of the call (capture.py), and the stores the audio is
kept in (store.py: a local directory or any S3-compatible bucket)."""
