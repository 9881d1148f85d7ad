"""Hostile and ordinary documents for the content disarm tests, built here at test time.

PDFs are written byte by byte (objects, a cross-reference table and a trailer), so that a test
can say exactly what a hostile file holds: JavaScript, actions, attachments, forms, enormous
pages, cycles, content streams that inflate to far more than they weigh. Office documents are
the fewest ZIP members Word and LibreOffice accept; images come from Pillow or, for a
decompression bomb, from a PNG written chunk by chunk.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

from PIL import Image

# The office documents, shared with the benchmarks.
from loopback.documents import docx as docx
from loopback.documents import odt as odt

_PAGE_TEXT = b"BT /F1 24 Tf 72 720 Td (A page of a hostile PDF) Tj ET"
_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def pdf(objects: list[bytes], root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A PDF of `objects` (object n is objects[n - 1]) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\n" % (len(objects) + 1, root, trailer_extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def plain_pdf(pages: int = 1) -> bytes:
    """`pages` pages of text in a single /Pages node."""
    first_page = 5
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        stream(_PAGE_TEXT),
        _FONT,
    ]
    objects += [_page(parent=2, contents=3, font=4) for _ in range(pages)]
    return pdf(objects)


def _page(parent: int, contents: int, font: int, extra: bytes = b"") -> bytes:
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
        b"/Resources << /Font << /F1 %d 0 R >> >> %s>>" % (parent, contents, font, extra)
    )


def active_pdf() -> bytes:
    """Two pages carrying every kind of active content a PDF reader might act on."""
    script = b"app.alert('pwned'); this.exportDataObject({cName: 'payload.exe', nLaunch: 2});"
    objects = [
        # 1 catalog: open action, document actions, names (JavaScript, attachments), a form
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R "
        b"/AA << /WC 5 0 R /WS 5 0 R >> "
        b"/Names << /JavaScript << /Names [(run) 5 0 R] >> "
        b"/EmbeddedFiles << /Names [(payload.exe) 6 0 R] >> >> "
        b"/AcroForm << /Fields [10 0 R] /NeedAppearances true >> >>",
        b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
        _page(2, 8, 9, b"/Annots [10 0 R 11 0 R 12 0 R] /AA << /O 5 0 R /C 5 0 R >> "),
        _page(2, 8, 9),
        b"<< /Type /Action /S /JavaScript /JS (%s) >>" % script,
        b"<< /Type /Filespec /F (payload.exe) /EF << /F 7 0 R >> >>",
        stream(b"MZ this would be a program", b"/Type /EmbeddedFile "),
        stream(_PAGE_TEXT),
        _FONT,
        # 10 a text field that runs JavaScript when it is focused or changed
        b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (filled in) "
        b"/Rect [72 600 300 630] /P 3 0 R /AA << /Fo 5 0 R /K 5 0 R >> >>",
        # 11 a link to a web address; 12 a link that launches a program
        b"<< /Type /Annot /Subtype /Link /Rect [72 500 300 530] "
        b"/A << /S /URI /URI (https://attacker.invalid/beacon) >> >>",
        b"<< /Type /Annot /Subtype /Link /Rect [72 400 300 430] "
        b"/A << /S /Launch /F (cmd.exe) /Win << /F (cmd.exe) /P (/c calc) >> >> >>",
    ]
    return pdf(objects)


# What none of a safe copy's bytes may hold: the names of active content in a PDF.
ACTIVE_NAMES = (
    b"/JavaScript",
    b"/JS",
    b"/OpenAction",
    b"/AA",
    b"/Launch",
    b"/EmbeddedFile",
    b"/URI",
    b"/Annots",
    b"/AcroForm",
    b"/Names",
    b"/Font",
)


def enormous_page_pdf(side_points: int = 14_400) -> bytes:
    """One page `side_points` on a side (14,400 points is 200 inches, PDF's largest)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>" % (side_points, side_points),
        stream(_PAGE_TEXT),
        _FONT,
    ]
    return pdf(objects)


def cyclic_pages_pdf() -> bytes:
    """A page tree whose node lists itself and its parent among its kids, and claims a billion
    pages."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R 1 0 R] /Count 1000000000 >>",
        b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 1000000000 >>",
    ]
    return pdf(objects)


def self_referencing_pages_pdf() -> bytes:
    """A page tree whose only kid is itself, claiming a million pages: PDFium counts them all,
    and cannot load one."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R] /Count 1000000 >>",
    ]
    return pdf(objects)


def deep_nesting_pdf(depth: int = 200_000) -> bytes:
    """A page whose resources hold arrays nested `depth` deep: a recursive parser's stack."""
    nested = b"[" * depth + b"]" * depth
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Deep %s >> >>" % nested,
        stream(_PAGE_TEXT),
    ]
    return pdf(objects)


def content_bomb_pdf(inflated_bytes: int = 512 * 1024 * 1024) -> bytes:
    """One page whose content stream is a few hundred kilobytes of Flate that inflates to
    `inflated_bytes` of drawing operators (a million lines to stroke per 20 MB)."""
    line = b"0 0 m 595 842 l S\n"
    block = line * (1024 * 1024 // len(line))
    compressor = zlib.compressobj(9)
    squeezed = bytearray()
    for _ in range(inflated_bytes // len(block)):
        squeezed += compressor.compress(block)
    squeezed += compressor.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        stream(bytes(squeezed), b"/Filter /FlateDecode "),
    ]
    return pdf(objects)


def png_bomb(side: int = 40_000) -> bytes:
    """A black-and-white PNG of side x side pixels (1.6 billion for 40,000) in a few hundred
    kilobytes: its rows of zeros are compressed as they are written, never held whole."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = bytearray()
    for _ in range(side):
        data += compressor.compress(row)
    data += compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND")


def _chunk(kind: bytes, body: bytes = b"") -> bytes:
    checksum = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)


def jpeg_with_gps() -> bytes:
    """A photo-like JPEG with EXIF (camera, GPS position), an XMP packet, a comment and an ICC
    profile."""
    image = Image.new("RGB", (320, 240), (200, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "Hostile Camera Co"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(
        out,
        "JPEG",
        exif=exif.tobytes(),
        comment=b"secret comment",
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>secret xmp</x:xmpmeta>",
        icc_profile=_srgb_profile(),
    )
    return out.getvalue()


def png_with_text() -> bytes:
    """A PNG with text chunks (a comment and an author), EXIF and a colour profile."""
    from PIL import PngImagePlugin

    image = Image.new("RGBA", (64, 48), (10, 200, 10, 128))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret comment")
    info.add_itxt("Author", "secret author")
    exif = Image.Exif()
    exif[0x010F] = "Hostile Camera Co"
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, exif=exif.tobytes(), icc_profile=_srgb_profile())
    return out.getvalue()


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def docx_linking_image(target: Path) -> bytes:
    """A Word document showing a picture it does not contain: a link to the file `target` on
    the machine that opens it (an external image relationship)."""
    namespaces = (
        'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
        'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"'
    )
    size = '<a:ext cx="1905000" cy="1905000"/>'
    picture = (
        '<w:p><w:r><w:drawing><wp:inline><wp:extent cx="1905000" cy="1905000"/>'
        '<wp:docPr id="1" name="Picture 1"/><a:graphic><a:graphicData '
        'uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic>'
        '<pic:nvPicPr><pic:cNvPr id="1" name="linked.png"/><pic:cNvPicPr/></pic:nvPicPr>'
        '<pic:blipFill><a:blip r:link="rId2"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>'
        f'<pic:spPr><a:xfrm><a:off x="0" y="0"/>{size}</a:xfrm><a:prstGeom prst="rect">'
        "<a:avLst/></a:prstGeom></pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline>"
        "</w:drawing></w:r></w:p>"
    )
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:document {namespaces}><w:body>'
        f"<w:p><w:r><w:t>A linked picture follows</w:t></w:r></w:p>{picture}</w:body></w:document>"
    )
    relationships = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'relationships/image" Target="{target.as_uri()}" TargetMode="External"/>'
        "</Relationships>"
    )
    with zipfile.ZipFile(io.BytesIO(docx(["placeholder"]))) as plain:
        members = {name: plain.read(name) for name in plain.namelist()}
    members["word/document.xml"] = document.encode()
    members["word/_rels/document.xml.rels"] = relationships.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def odp(slides: list[str]) -> bytes:
    """An OpenDocument presentation, one text box a slide."""
    pages = "".join(
        f'<draw:page draw:name="page{number}"><draw:frame svg:x="2cm" svg:y="2cm" '
        f'svg:width="20cm" svg:height="3cm"><draw:text-box><text:p>{text}</text:p>'
        "</draw:text-box></draw:frame></draw:page>"
        for number, text in enumerate(slides, start=1)
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
        f'office:version="1.2"><office:body><office:presentation>{pages}'
        "</office:presentation></office:body></office:document-content>"
    )
    kind = "application/vnd.oasis.opendocument.presentation"
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        f'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        f'manifest:version="1.2" manifest:media-type="{kind}"/><manifest:file-entry '
        'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", kind, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def xlsx_by_libreoffice(rows: list[list[str]], directory: Path) -> bytes:
    """An Excel workbook of `rows`, written by LibreOffice Calc from CSV in `directory`."""
    source = directory / "table.csv"
    source.write_text("\n".join(",".join(row) for row in rows) + "\n", encoding="utf-8")
    profile = (directory / "profile").as_uri()
    subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation={profile}", "--convert-to", "xlsx"]
        + ["--outdir", str(directory), str(source)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return (directory / "table.xlsx").read_bytes()
