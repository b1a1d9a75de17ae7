"""Label a GitHub issue (demo): returns the labels the issue would carry.

A workspace function: `main(input)` gets the node's rendered `input` and returns JSON. This demo
version decides the labels offline; a real one would call the GitHub API with a token from the
workspace vault.
"""


def main(input):
    label = str(input.get("label") or "triage").strip().lower()
    labels = [label]
    if label == "bug" and int(input.get("number") or 0) > 0:
        labels.append("needs-repro")
    return {
        "repository": input.get("repository"),
        "number": input.get("number"),
        "labels": labels,
    }
