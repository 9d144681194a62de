"""After-call analysis: a short summary and a structured outcome of every call, from DeepSeek
over the redacted record (outcome.py: digest, schema, stored form; summarize.py: the request,
validation and the one retry)."""
