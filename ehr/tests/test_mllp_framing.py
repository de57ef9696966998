"""MLLP framing (FrameReader) byte by byte: chunks split anywhere, broken frames."""

import pytest

from ehr.hl7v2.mllp import FrameReader

SB, EB = b"\x0b", b"\x1c\r"


def feed_all(reader: FrameReader, *chunks: bytes) -> list[tuple[str, bytes]]:
    events = []
    for chunk in chunks:
        events.extend(reader.feed(chunk))
    return events


def test_two_frames_in_one_read_are_two_messages():
    events = FrameReader().feed(SB + b"MSH|one" + EB + b"\r\n" + SB + b"MSH|two" + EB)

    assert events == [("frame", b"MSH|one"), ("frame", b"MSH|two")]


@pytest.mark.parametrize("cut", range(1, 12))
def test_a_frame_split_at_any_byte_is_one_message(cut):
    data = SB + b"MSH|abc" + EB

    events = feed_all(FrameReader(), data[:cut], data[cut:])

    assert events == [("frame", b"MSH|abc")]


def test_a_frame_fed_one_byte_at_a_time():
    data = SB + b"MSH|^~\\&|A\rPID|1" + EB
    reader = FrameReader()

    events = feed_all(reader, *(data[i:i + 1] for i in range(len(data))))

    assert events == [("frame", b"MSH|^~\\&|A\rPID|1")]
    assert not reader.in_frame


def test_an_end_block_without_its_carriage_return_does_not_end_the_frame():
    reader = FrameReader()

    assert reader.feed(SB + b"MSH|a\x1cb") == []
    assert reader.feed(EB) == [("frame", b"MSH|a\x1cb")]


def test_a_start_block_inside_a_frame_drops_the_unfinished_one():
    events = FrameReader().feed(SB + b"MSH|cut short" + SB + b"MSH|whole" + EB)

    assert events == [("truncated", b"MSH|cut short"), ("frame", b"MSH|whole")]


def test_bytes_outside_a_frame_are_junk_and_blank_lines_are_not():
    assert FrameReader().feed(b"\r\n  \t") == []
    assert FrameReader().feed(b"GET / HTTP/1.1\r\n") == [("junk", b"GET / HTTP/1.1\r\n")]


def test_an_oversized_frame_is_discarded_as_it_streams_and_reported_when_it_ends():
    reader = FrameReader(max_bytes=1000)
    events = reader.feed(SB + b"MSH|^~\\&|A|B|||x||SIU^S15|BIG|P|2.5\r")
    for _ in range(200):  # 200 KB of body, 1 KB at a time
        events += reader.feed(b"x" * 1024)
        assert len(reader._buffer) <= 1000 + 1024
    events += reader.feed(EB + SB + b"MSH|next" + EB)

    assert [kind for kind, _ in events] == ["oversized", "frame"]
    assert events[0][1].startswith(b"MSH|^~\\&|A|B|||x||SIU^S15|BIG|")
    assert events[1] == ("frame", b"MSH|next")


def test_a_frame_of_exactly_the_limit_is_a_message():
    body = b"M" * 1000

    assert FrameReader(max_bytes=1000).feed(SB + body + EB) == [("frame", body)]
    assert FrameReader(max_bytes=999).feed(SB + body + EB)[0][0] == "oversized"
