"""Product text for embedding and its content hash."""

from __future__ import annotations

from app.catalog.text import content_hash, normalise_tags, product_text, strip_html, truncate_words


def test_strip_html_keeps_visible_text_only():
    markup = (
        "<div><h2>Warm&nbsp;&amp; dry</h2><p>Merino <b>wool</b>\n\n  socks.</p>"
        "<script>track('x')</script><style>p{color:red}</style><ul><li>Cushioned</li><li>Seamless</li></ul>"
        "Line<br/>break &lt;3</div>"
    )
    assert strip_html(markup) == "Warm & dry Merino wool socks. Cushioned Seamless Line break <3"
    assert strip_html(None) == "" and strip_html("") == ""
    assert strip_html("plain   text\twith\nspaces") == "plain text with spaces"


def test_product_text_puts_the_telling_fields_first():
    text = product_text(
        "  Merino   Hiking Socks ",
        product_type="Socks",
        vendor="Trailhead",
        tags="wool, hiking, Wool ,  outdoor",
        description_html="<p>Soft <em>and</em> warm.</p>",
    )
    assert (
        text
        == "Merino Hiking Socks. Type: Socks. Vendor: Trailhead. Tags: wool, hiking, outdoor. Soft and warm."
    )
    assert product_text("Gift Card") == "Gift Card"
    assert product_text("Mug", tags=["ceramic", "kitchen"]) == "Mug. Tags: ceramic, kitchen"


def test_long_descriptions_are_cut_at_a_word_boundary():
    description = "<p>" + " ".join(["alpine"] * 400) + "</p>"
    text = product_text("Jacket", description_html=description, max_description_chars=100)
    tail = text.split(". ", 1)[1]
    assert len(tail) <= 100 and tail.endswith("alpine") and "  " not in tail
    assert truncate_words("abc def ghi", 7) == "abc def"
    assert truncate_words("short", 10) == "short"
    assert len(product_text("x" * 5000)) <= 1000


def test_tags_are_trimmed_and_deduplicated():
    assert normalise_tags(" a, b ,A,, c ") == ["a", "b", "c"]
    assert normalise_tags(None) == [] and normalise_tags([]) == []


def test_content_hash_changes_with_text_and_embedder_only():
    h = content_hash("Merino Socks", "minilm")
    assert h == content_hash("Merino Socks", "minilm")
    assert h != content_hash("Merino Sock", "minilm")
    assert h != content_hash("Merino Socks", "hashing/512")
    assert len(h) == 64
    # edits the model would never see (deep in a long description) do not change the text
    base = "<p>" + "word " * 300 + "</p>"
    assert product_text("T", description_html=base + "<p>changed</p>") == product_text(
        "T", description_html=base
    )
