"""Checks one received webhook with the official `standardwebhooks` package.

Takes a JSON object as its argument: {"secret", "id", "timestamp", "signature", "body_b64"}.
Recomputes the signature with the package's `sign` over the id, timestamp and body as
received (the sender may run on a test clock, so `verify`'s five-minute window against this
machine's clock is not what is checked here) and requires one of the header's signatures to
equal it; then requires a body with one changed bit to match none. Prints "ok" or exits 1.
"""

import base64
import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook


def matches(wh, msg_id, ts, body, header):
    expected = wh.sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body.decode("utf-8"))
    return expected in header.split(" ")


def main():
    m = json.loads(sys.argv[1])
    wh = Webhook(m["secret"])
    body = base64.b64decode(m["body_b64"])
    ts = int(m["timestamp"])
    if not matches(wh, m["id"], ts, body, m["signature"]):
        print("signature does not match", file=sys.stderr)
        sys.exit(1)
    forged = bytearray(body)
    forged[len(forged) // 2] ^= 0x01
    if matches(wh, m["id"], ts, bytes(forged), m["signature"]):
        print("a changed body still matches", file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
