"""``sqs://<queue>``: AWS SQS (standard queue) through boto3.

Endpoint, region and credentials come from the standard AWS variables (``AWS_ENDPOINT_URL``
points boto3 at moto). Bodies are UTF-8 text (SQS carries text); batches of 10 per request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from lakehouse.sources.events.bus import Bus, BusError, BusUnavailable, Message

_BATCH = 10
_SENDERS = 8
_MAX_WAIT = 20  # SQS long polling limit, seconds
_UNAVAILABLE = (
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "InvalidClientTokenId",
    "AccessDenied",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
)


class SqsBus(Bus):
    max_message_bytes = 256 * 1024

    def __init__(self, queue: str):
        self.queue = queue
        self.url = f"sqs://{queue}"

    @cached_property
    def client(self):
        import boto3
        import botocore.config

        try:
            return boto3.client(
                "sqs",
                config=botocore.config.Config(
                    max_pool_connections=16, retries={"max_attempts": 5, "mode": "standard"}
                ),
            )
        except Exception as exc:  # e.g. NoRegionError
            raise BusUnavailable(f"event bus {self.url}: {exc}; set AWS_DEFAULT_REGION") from exc

    def _call(self, operation: str, **kwargs):
        import botocore.exceptions

        try:
            return getattr(self.client, operation)(**kwargs)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            text = f"{code}: {exc.response.get('Error', {}).get('Message', exc)}"
            if code in _UNAVAILABLE:
                if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
                    raise BusUnavailable(
                        f"event bus {self.url}: queue {self.queue!r} does not exist: create it "
                        "or set LAKEHOUSE_BUS_URL"
                    ) from exc
                raise BusUnavailable(
                    f"event bus {self.url}: access denied ({text}); check AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL off AWS)"
                ) from exc
            raise BusError(f"event bus {self.url}: {operation} failed: {text}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise BusUnavailable(
                f"event bus {self.url}: cannot reach SQS ({type(exc).__name__}: {exc}); check "
                "AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and the network"
            ) from exc

    @cached_property
    def queue_url(self) -> str:
        return self._call("get_queue_url", QueueName=self.queue)["QueueUrl"]

    def publish(self, bodies: Iterable[bytes]) -> int:
        texts = []
        for body in bodies:
            try:
                texts.append(body.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise BusError(f"event bus {self.url}: SQS carries UTF-8 text only") from exc
        self._check_sizes([t.encode() for t in texts])
        batches = [texts[i : i + _BATCH] for i in range(0, len(texts), _BATCH)]
        if len(batches) > 1:  # SQS scales with concurrent senders
            self.queue_url  # noqa: B018 - resolve the client and URL once, before the threads
            with ThreadPoolExecutor(min(_SENDERS, len(batches))) as pool:
                list(pool.map(self._send_batch, batches))
        elif batches:
            self._send_batch(batches[0])
        return len(texts)

    def _send_batch(self, chunk: list[str]) -> None:
        entries = [{"Id": str(i), "MessageBody": t} for i, t in enumerate(chunk)]
        for attempt in range(5):
            response = self._call("send_message_batch", QueueUrl=self.queue_url, Entries=entries)
            failed = {f["Id"] for f in response.get("Failed", [])}
            if not failed:
                return
            if any(f.get("SenderFault") for f in response["Failed"]) or attempt == 4:
                raise BusError(f"event bus {self.url}: send failed: {response['Failed']}")
            entries = [e for e in entries if e["Id"] in failed]
            time.sleep(0.2 * 2**attempt)

    def receive(
        self, max_messages: int = 10, visibility_timeout: float = 60, wait_seconds: float = 0
    ) -> list[Message]:
        messages: list[Message] = []
        wait = min(_MAX_WAIT, math.ceil(wait_seconds))
        while len(messages) < max_messages:
            response = self._call(
                "receive_message",
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_BATCH, max_messages - len(messages)),
                VisibilityTimeout=max(0, math.ceil(visibility_timeout)),
                WaitTimeSeconds=0 if messages else wait,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            got = response.get("Messages", [])
            if not got:
                break
            for m in got:
                attempts = int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1))
                messages.append(
                    Message(m["MessageId"], m["ReceiptHandle"], m["Body"].encode(), attempts)
                )
        return messages

    def ack(self, messages: Sequence[Message]) -> int:
        deleted = 0
        for start in range(0, len(messages), _BATCH):
            chunk = messages[start : start + _BATCH]
            response = self._call(
                "delete_message_batch",
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt} for i, m in enumerate(chunk)],
            )
            deleted += len(response.get("Successful", []))
        return deleted

    def pending(self) -> int:
        response = self._call(
            "get_queue_attributes",
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages"],
        )
        return int(response["Attributes"]["ApproximateNumberOfMessages"])

    def in_flight(self) -> int:
        response = self._call(
            "get_queue_attributes",
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessagesNotVisible"],
        )
        return int(response["Attributes"]["ApproximateNumberOfMessagesNotVisible"])

    def verify(self) -> None:
        self.pending()

    def create(self) -> None:
        response = self._call("create_queue", QueueName=self.queue)
        self.__dict__["queue_url"] = response["QueueUrl"]

    def close(self) -> None:
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()
