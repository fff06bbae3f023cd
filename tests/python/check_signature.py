"""Checks one received webhook with the official `standardwebhooks` package.

Takes a JSON object as its argument: {"secret", "id", "timestamp", "signature", "body_b64"},
and "verify": true for a delivery made on the real clock.
- Without "verify": recomputes the signature with the package's `sign` over the id, timestamp
  and body as received (the sender runs on a test clock, so `verify`'s five-minute window
  against this machine's clock cannot be what is checked) and requires one of the header's
  signatures to equal it.
- With "verify": calls the package's `verify` with the headers as received, which also checks
  the timestamp against this machine's clock.
Either way a body with one changed bit must then fail. Prints "ok" or exits 1.
"""

import base64
import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def signed(wh, msg_id, ts, body, header):
    expected = wh.sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body.decode("utf-8"))
    return expected in header.split(" ")


def verified(wh, msg_id, ts, body, header):
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": header}
    try:
        wh.verify(body, headers)
        return True
    except WebhookVerificationError as e:
        print(f"verify: {e}", file=sys.stderr)
        return False


def main():
    m = json.loads(sys.argv[1])
    check = verified if m.get("verify") else signed
    wh = Webhook(m["secret"])
    body = base64.b64decode(m["body_b64"])
    ts = int(m["timestamp"])
    if not check(wh, m["id"], ts, body, m["signature"]):
        print("signature does not match", file=sys.stderr)
        sys.exit(1)
    forged = bytearray(body)
    forged[len(forged) // 2] ^= 0x01
    if check(wh, m["id"], ts, bytes(forged), m["signature"]):
        print("a changed body still matches", file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
