#!/usr/bin/env python3
"""Builds the fixtures of Tests/DataTests/Fixtures: small data sets in LViT's real formats, PNGs of every colour
type, a hand-written workbook that exercises the corners of the xlsx format, and golden resizes from OpenCV.

The tests never run Python; rerun this script only to change the fixtures, then commit its output.
Needs numpy, openpyxl and OpenCV 4 (`pip install numpy openpyxl "opencv-python-headless<5"`).

    /work/venv/bin/python scripts/make_data_fixtures.py
"""
import json
import re
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import openpyxl

ROOT = Path(__file__).resolve().parent.parent / "Tests" / "DataTests" / "Fixtures"


# ---- PNG writer (written out here so that every colour type and depth is under our control) ----

def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def write_png(path, rows, color_type, depth=8, palette=None, transparency=None):
    """rows: 2D (or 3D for several samples) numpy array of raw sample values."""
    a = np.asarray(rows)
    height, width = a.shape[0], a.shape[1]
    dtype = ">u2" if depth == 16 else "u1"
    raw = b"".join(b"\x00" + a[y].astype(dtype).tobytes() for y in range(height))
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))
    if palette is not None:
        data += png_chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
    if transparency is not None:
        data += png_chunk(b"tRNS", bytes(transparency))
    data += png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def pattern(width, height, k=0):
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 17 + y * 31 + k * 13) % 256).astype(np.uint8)


def rect_mask(width, height, x0, y0, x1, y1, value=255):
    m = np.zeros((height, width), np.uint8)
    m[y0:y1, x0:x1] = value
    return m


# ---- PNG colour types ----

def make_pngs():
    d = ROOT / "png"
    write_png(d / "gray8.png", pattern(7, 5), 0)
    y, x = np.mgrid[0:4, 0:6]
    write_png(d / "gray16.png", (x * 10000 + y * 1000 + 7).astype(np.uint16), 0, depth=16)
    rgb = np.stack([pattern(5, 3, 0), pattern(5, 3, 1), pattern(5, 3, 2)], axis=-1)
    write_png(d / "rgb8.png", rgb, 2)
    rgba = np.concatenate([rgb[:, :4], np.full((3, 4, 1), 77, np.uint8)], axis=-1)
    write_png(d / "rgba8.png", rgba, 6)
    ga = np.stack([pattern(4, 2), np.full((2, 4), 200, np.uint8)], axis=-1)
    write_png(d / "graya8.png", ga, 4)
    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30)]
    write_png(d / "palette.png", np.array([[0, 1, 2, 3], [3, 2, 1, 0]], np.uint8), 3, palette=palette)
    # A mask saved in colour: pure blue level 1 becomes grey 0 under OpenCV's weights, red 1 becomes 0 as well,
    # green 2 becomes 1.
    mask_rgb = np.zeros((2, 3, 3), np.uint8)
    mask_rgb[0, 0] = (0, 0, 1)
    mask_rgb[0, 1] = (255, 255, 255)
    mask_rgb[1, 2] = (0, 2, 0)
    write_png(d / "mask_rgb.png", mask_rgb, 2)
    good = write_png(d / "tmp.png", pattern(8, 8), 0)
    (d / "tmp.png").unlink()
    # Corrupt: the IDAT payload damaged after the header (CRC no longer matches), and a file cut short.
    idat = good.index(b"IDAT")
    broken = bytearray(good)
    broken[idat + 6] ^= 0xFF
    (d / "corrupt_crc.png").write_bytes(bytes(broken))
    (d / "truncated.png").write_bytes(good[: idat + 8])
    (d / "not_a_png.png").write_bytes(b"this is a text file, not an image\n")


def make_reproducible(path):
    """openpyxl stamps the save time into docProps/core.xml and the zip entries; fix both so reruns are byte-equal."""
    with zipfile.ZipFile(path) as z:
        parts = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>2020-01-01T00:00:00Z", data)
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


# ---- LViT folders ----

QATA_TEXTS = {
    "mask_covid_1.png": "Bilateral pulmonary infection, two infected areas, all left lung and all right lung.",
    "mask_covid_2.png": "Unilateral pulmonary infection, one infected area, middle left lung.",
    "mask_covid_3.png": "Bilateral pulmonary infection, two infected areas, upper left lung and lower right lung.",
    "mask_covid_4.png": "Unilateral pulmonary infection, one infected area, lower right lung.",
    "mask_covid_5.png": "Unilateral pulmonary infection, two infected areas, middle lower left lung.",
    "mask_covid_6.png": "Bilateral pulmonary infecion, three infected areas, upper left lung, lower left lung and lower right lung.",
}
QATA_SPLITS = {"Train_Folder": [1, 2, 3], "Val_Folder": [4], "Test_Folder": [5, 6]}


def qata_mask(k):
    return rect_mask(12, 12, k % 5, 1 + k % 3, 6 + k % 5, 7 + k % 3)


def make_qata():
    root = ROOT / "lvit_qata"
    shutil.rmtree(root, ignore_errors=True)
    for folder, ids in QATA_SPLITS.items():
        d = root / folder
        for k in ids:
            write_png(d / "img" / f"covid_{k}.png", pattern(12, 12, k), 0)
            write_png(d / "labelcol" / f"mask_covid_{k}.png", qata_mask(k), 0)
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "Sheet1"
        ws.append(["Image", "Description"])
        for k in ids:
            ws.append([f"mask_covid_{k}.png", QATA_TEXTS[f"mask_covid_{k}.png"]])
        path = d / f"{folder.split('_')[0]}_text.xlsx"
        wb.save(path)
        make_reproducible(path)


CSV_TEXTS = {
    "Breast_MRI_001_01.png": 'Left breast, one tumour, upper outer quadrant, diameter about 2 cm.',
    "Breast_MRI_001_02.png": 'Left breast, one tumour, upper outer quadrant, diameter about 2 cm.',
    "Breast_MRI_002_01.png": 'Right breast, one tumour, "central" region, diameter about 1 cm.',
    "Breast_MRI_003_01.png": 'Right breast, one tumour,\nlower inner quadrant, diameter about 4 cm.',
}
CSV_SPLITS = {"Train_Folder": ["Breast_MRI_001_01.png", "Breast_MRI_001_02.png"],
              "Val_Folder": ["Breast_MRI_002_01.png"], "Test_Folder": ["Breast_MRI_003_01.png"]}


def csv_field(s):
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n') else s


def make_csv_set():
    root = ROOT / "lvit_csv"
    shutil.rmtree(root, ignore_errors=True)
    for n, (folder, names) in enumerate(CSV_SPLITS.items()):
        d = root / folder
        for k, name in enumerate(names):
            write_png(d / "img" / name, pattern(12, 12, 10 + n * 2 + k), 0)
            # masks stored as 0/1 (as some exports do), so only "> 0" makes them foreground
            write_png(d / "labelcol" / name, rect_mask(12, 12, 2 + k, 3, 8, 9, value=1), 0)
        lines = ["Image,Description"] + [f"{csv_field(name)},{csv_field(CSV_TEXTS[name])}" for name in names]
        (d / f"{folder.split('_')[0]}_text.csv").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


# ---- A workbook with the awkward parts of the format ----

def make_rich_xlsx():
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rns = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    parts = {
        "[Content_Types].xml": head + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        '</Types>',
        "_rels/.rels": head + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        # The first sheet in the workbook's order lives in sheet2.xml; sheet1.xml is the second sheet.
        "xl/workbook.xml": head + f'<workbook {ns} {rns}><sheets>'
        '<sheet name="Texts" sheetId="2" r:id="rId7"/><sheet name="Notes" sheetId="1" r:id="rId3"/>'
        '</sheets></workbook>',
        "xl/_rels/workbook.xml.rels": head + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId3" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId7" Type="{rel}/worksheet" Target="/xl/worksheets/sheet2.xml"/>'
        f'<Relationship Id="rId9" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/sharedStrings.xml": head + f'<sst {ns} count="4" uniqueCount="4">'
        '<si><t>Image</t></si>'
        '<si><r><rPr><b/></rPr><t xml:space="preserve">Bilateral </t></r><r><t>pulmonary infection.</t></r>'
        '<rPh sb="0" eb="1"><t>IGNORED</t></rPh></si>'
        '<si><t xml:space="preserve">  spaced  </t><phoneticPr fontId="1" type="noConversion"/></si>'
        '<si><t>Description</t></si></sst>',
        "xl/worksheets/sheet1.xml": head + f'<worksheet {ns}><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>Image</t></is></c><c r="B1" t="inlineStr"><is><t>Description</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>wrong.png</t></is></c><c r="B2" t="inlineStr"><is><t>from the second sheet</t></is></c></row>'
        '</sheetData></worksheet>',
        "xl/worksheets/sheet2.xml": head + f'<worksheet {ns}>\n  <sheetData>\n'
        '    <row r="1"><c r="A1"><v>0</v></c><c r="B1" t="s"><v>0</v></c><c r="D1" t="s"><v>3</v></c></row>\n'
        '    <row r="2"><c r="B2" t="inlineStr"><is><t>a.png</t></is></c><c r="D2" t="s"><v>1</v></c></row>\n'
        '    <row r="3"><c><v>2</v></c><c t="inlineStr"><is><t>b.png</t></is></c><c/><c t="s"><v>2</v></c></row>\n'
        '    <row r="5"><c r="B5" t="str"><f>CONCAT("c",".png")</f><v>c.png</v></c>'
        '<c r="D5" t="inlineStr"><is><r><t xml:space="preserve">x </t></r><r><t>&amp; y</t></r></is></c></row>\n'
        '    <row r="6"><c r="B6" t="inlineStr"><is><t></t></is></c></row>\n'
        '  </sheetData>\n</worksheet>',
    }
    path = ROOT / "xlsx" / "rich.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    # openpyxl's own reading, as a cross-check of what the Swift reader must return
    rows = [[c for c in r] for r in openpyxl.load_workbook(path).worksheets[0].iter_rows(values_only=True)]
    print("rich.xlsx via openpyxl:", rows)


# ---- Golden resizes from OpenCV (what LViT's loader does) ----

def make_golden():
    mask255 = np.zeros((10, 12), np.uint8)
    mask255[2:7, 3:9] = 255
    mask255[8, 10] = 255
    mask01 = (mask255 > 0).astype(np.uint8)
    image = pattern(12, 10, 3)
    write_png(ROOT / "resize" / "mask255.png", mask255, 0)
    write_png(ROOT / "resize" / "mask01.png", mask01, 0)
    write_png(ROOT / "resize" / "image.png", image, 0)
    golden = {}
    for w, h in [(8, 8), (16, 16), (5, 7)]:
        key = f"{w}x{h}"
        golden[f"mask255_linear_{key}"] = (cv2.resize(mask255, (w, h)) > 0).astype(int).flatten().tolist()
        golden[f"mask01_linear_{key}"] = (cv2.resize(mask01, (w, h)) > 0).astype(int).flatten().tolist()
        golden[f"mask255_nearest_{key}"] = (cv2.resize(mask255, (w, h), interpolation=cv2.INTER_NEAREST) > 0).astype(int).flatten().tolist()
        golden[f"image_linear_{key}"] = cv2.resize(image, (w, h)).flatten().tolist()
    gray = cv2.imread(str(ROOT / "png" / "mask_rgb.png"), 0)
    golden["mask_rgb_gray"] = gray.flatten().tolist()
    golden["opencv_version"] = cv2.__version__
    (ROOT / "golden_cv2.json").write_text(json.dumps(golden, indent=1) + "\n")


if __name__ == "__main__":
    make_pngs()
    make_qata()
    make_csv_set()
    make_rich_xlsx()
    make_golden()
    print("fixtures written to", ROOT)
