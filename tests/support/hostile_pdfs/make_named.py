"""How the named bombs here were made (reviewers' bombs, named as the copy's files):
python tests/support/hostile_pdfs/make_named.py. The other three came from the review of issue
20: bomb-1024-2-1.pdf (1 GiB of zeros compressed twice, one file), bomb-256-2-50.pdf (50 names
pointing at one 256 MiB stream compressed twice), objstm.pdf (an object stream holding the
catalog that inflates to 1 GiB)."""

import io
import zlib
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name

HERE = Path(__file__).parent


def bomb(megabytes: int, layers: int, names: list[str]) -> bytes:
    data = b"\0" * (megabytes * 1024 * 1024)
    for _ in range(layers):
        data = zlib.compress(data, 9)
    pdf = pikepdf.new()
    pdf.add_blank_page()
    stream = pikepdf.Stream(pdf, data)
    stream.Filter = Array([Name.FlateDecode] * layers)
    stream.Type = Name.EmbeddedFile
    ref = pdf.make_indirect(stream)
    entries: list[object] = []
    for name in names:
        spec = Dictionary(
            Type=Name.Filespec,
            F=pikepdf.String(name),
            UF=pikepdf.String(name),
            EF=Dictionary(F=ref),
        )
        entries += [pikepdf.String(name), pdf.make_indirect(spec)]
    pdf.Root.Names = Dictionary(EmbeddedFiles=Dictionary(Names=Array(entries)))
    out = io.BytesIO()
    pdf.save(out, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return out.getvalue()


if __name__ == "__main__":
    # Named as the copy's files: a double-Flate gigabyte, and one Flate of 100 MiB (~100 KB).
    (HERE / "named-1024-2.pdf").write_bytes(bomb(1024, 2, ["receipt.json", "content.json"]))
    (HERE / "named-100-1.pdf").write_bytes(bomb(100, 1, ["receipt.json", "content.json"]))
