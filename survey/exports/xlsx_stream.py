"""A minimal streaming XLSX writer: rows go straight from a generator into the zip, as XML.

openpyxl's write-only mode builds a Cell object per value and keeps serialisation buffers alive;
on a full round (three million cells) that cost ~35 s and ~230 MB (benchmarks/RESULTS.md). This
writer produces the same workbook (bold frozen header, column widths, autofilter, real numbers
and dates, text as inline strings that Excel never evaluates) in a fraction of that, with memory
bounded by one buffered chunk. It writes only what the analyst workbook needs.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from xml.sax.saxutils import escape

# Characters XML 1.0 cannot hold (a spreadsheet would refuse the file).
ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
EPOCH = datetime(1899, 12, 30)

STYLE_DEFAULT, STYLE_HEADER, STYLE_DATE, STYLE_SHARE = 0, 1, 2, 3
STYLES_XML = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/><numFmt numFmtId="165" formatCode="0.0%"/></numFmts>
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill><fill><patternFill patternType="solid"><fgColor rgb="FFDCE3EC"/><bgColor indexed="64"/></patternFill></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="4">
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" applyAlignment="1"><alignment vertical="top"/></xf>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
</cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def excel_serial(moment: datetime) -> float:
    return (moment - EPOCH).total_seconds() / 86400


def text_xml(ref: str, text: str, style: int = STYLE_DEFAULT) -> str:
    """An inline-string cell: always text, never a formula or an error value."""
    text = escape(ILLEGAL_XML.sub("", text))
    if "\r" in text:
        text = text.replace("\r", "&#13;")  # a raw CR would be read back as a line feed
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">{text}</t></is></c>'


def number_xml(ref: str, value, style: int = STYLE_DEFAULT) -> str:
    s = f' s="{style}"' if style else ""
    return (
        f'<c r="{ref}"{s}><v>{value!r}</v></c>'
        if isinstance(value, float)
        else f'<c r="{ref}"{s}><v>{value}</v></c>'
    )


class StreamingWorkbook:
    """Sheets are written one after the other; `close()` adds the workbook parts and ends the zip."""

    def __init__(self, out):
        self._own = isinstance(out, str) or hasattr(out, "__fspath__")
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self.sheets: list[tuple[str, str | None]] = []  # (title, autofilter range)

    def add_sheet(
        self,
        title: str,
        header: list[str],
        widths: list[float],
        rows,
        cell_writers,
        *,
        freeze_column: int = 0,
    ) -> int:
        """Write one sheet; `cell_writers[i](ref, value)` returns the XML of column i (or '' for empty)."""
        number = len(self.sheets) + 1
        letters = [column_letter(i + 1) for i in range(len(header))]
        pane = (
            f'<pane xSplit="{freeze_column}" ySplit="1" topLeftCell="{column_letter(freeze_column + 1)}2" activePane="bottomRight" state="frozen"/>'
            if freeze_column
            else '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        )
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
            for i, w in enumerate(widths, 1)
        )
        count = 0
        with self.zip.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=True) as stream:
            stream.write(
                (
                    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
                    f'<sheetViews><sheetView workbookViewId="0">{pane}</sheetView></sheetViews>'
                    f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
                    + '<row r="1">'
                    + "".join(
                        text_xml(f"{letters[i]}1", name, STYLE_HEADER)
                        for i, name in enumerate(header)
                    )
                    + "</row>"
                ).encode()
            )
            chunk: list[str] = []
            for row in rows:
                count += 1
                r = count + 1
                cells = "".join(
                    write(f"{letters[i]}{r}", value)
                    for i, (write, value) in enumerate(zip(cell_writers, row, strict=True))
                    if value is not None
                )
                chunk.append(f'<row r="{r}">{cells}</row>')
                if len(chunk) >= 2000:
                    stream.write("".join(chunk).encode())
                    chunk.clear()
            stream.write("".join(chunk).encode())
            last = letters[-1]
            stream.write(
                f'</sheetData><autoFilter ref="A1:{last}{count + 1}"/></worksheet>'.encode()
            )
        self.sheets.append((title, f"$A$1:${last}${count + 1}"))
        return count

    def close(self) -> None:
        sheets = "".join(
            f'<sheet name="{escape(title, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
            for i, (title, _) in enumerate(self.sheets, 1)
        )
        names = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">\'{escape(title)}\'!{ref}</definedName>'
            for i, (title, ref) in enumerate(self.sheets)
        )
        z = self.zip
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for i in range(1, len(self.sheets) + 1)
            )
            + "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            "</Relationships>",
        )
        z.writestr(
            "docProps/core.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>survey</dc:creator></cp:coreProperties>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
            f"<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets><definedNames>{names}</definedNames></workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, len(self.sheets) + 1)
            )
            + f'<Relationship Id="rId{len(self.sheets) + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
            "</Relationships>",
        )
        z.writestr("xl/styles.xml", STYLES_XML)
        z.close()
