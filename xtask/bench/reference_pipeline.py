#!/usr/bin/env python3
"""The straightforward Python pipeline `cargo xtask bench` measures beside scenario 3.

Reads the bench's members (mParticle profile JSON, one per line), writes LiveRamp's two CSV
files with the bench configuration's columns (device IDs; FIRSTNAME, LASTNAME, CITY, STATE, ZIP,
COUNTRY and hashed EMAIL/PHONE), normalising as the connector does in its common cases (trim,
lower-case and check emails; NANP phones to 10 digits, +1 removed; IDFA/AAID shape, case and
hyphens, the all-zero ID refused; states and countries as codes; 5- or 9-digit ZIPs), then
encrypts each file with a `gpg --encrypt --compress-algo none` subprocess to the bench key. The
standard library only: csv, hashlib, json, re, subprocess. It is a reference for the ratio, not
a second implementation: its rejections are close to, not the same as, the connector's.

usage: reference_pipeline.py MEMBERS OUT_DIR GNUPG_HOME RECIPIENT
prints: {"members": N, "device_rows": D, "pii_rows": P}
"""

import csv
import hashlib
import json
import re
import subprocess
import sys

UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
STATES = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "FLORIDA": "FL", "GEORGIA": "GA",
    "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA",
    "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD",
    "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN", "MISSISSIPPI": "MS",
    "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV", "NEW HAMPSHIRE": "NH",
    "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY", "NORTH CAROLINA": "NC",
    "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR", "PENNSYLVANIA": "PA",
    "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD", "TENNESSEE": "TN",
    "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA", "WASHINGTON": "WA",
    "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY", "DISTRICT OF COLUMBIA": "DC",
    "PUERTO RICO": "PR",
}
CODES = set(STATES.values())
COUNTRIES = {"US": "US", "USA": "US", "UNITED STATES": "US", "UNITED STATES OF AMERICA": "US",
             "CA": "CA", "CANADA": "CA", "MX": "MX", "MEXICO": "MX", "GB": "GB", "UK": "GB",
             "UNITED KINGDOM": "GB", "DE": "DE", "GERMANY": "DE", "FR": "FR", "FRANCE": "FR"}


def device_id(value, upper):
    v = value.strip()
    if not UUID.match(v):
        return None
    h = v.replace("-", "")
    if h.strip("0") == "":
        return None
    d = f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    return d.upper() if upper else d.lower()


def phone(value):
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        return None
    return digits


def text(value):
    return " ".join(str(value).split())


def main():
    members_path, out_dir, gnupg_home, recipient = sys.argv[1:5]
    device_path = f"{out_dir}/3242_17095-D_2026-11-28.csv"
    pii_path = f"{out_dir}/3242_17095-PII_2026-11-28.csv"
    members = device_rows = pii_rows = 0
    with open(members_path, encoding="utf-8") as src, \
            open(device_path, "w", newline="", encoding="utf-8") as d_out, \
            open(pii_path, "w", newline="", encoding="utf-8") as p_out:
        devices = csv.writer(d_out, lineterminator="\n")
        pii = csv.writer(p_out, lineterminator="\n")
        devices.writerow(["DEVICE_ID", "ID_TYPE"])
        pii.writerow(["FIRSTNAME", "LASTNAME", "CITY", "STATE", "ZIP", "COUNTRY", "EMAIL1_MD5",
                      "EMAIL1_SHA-1", "EMAIL1_SHA-256", "PHONE1_SHA-1", "PHONE2_SHA-1"])
        for line in src:
            try:
                profile = json.loads(line)
            except ValueError:
                continue
            if not isinstance(profile, dict):
                continue
            members += 1
            for ident in profile.get("device_identities") or []:
                kind = ident.get("type")
                if kind == "ios_advertising_id":
                    v = device_id(str(ident.get("value", "")), True)
                    if v:
                        devices.writerow([v, "IDFA"])
                        device_rows += 1
                elif kind == "google_advertising_id":
                    v = device_id(str(ident.get("value", "")), False)
                    if v:
                        devices.writerow([v, "AAID"])
                        device_rows += 1
            attrs = profile.get("user_attributes") or {}
            md5 = sha1 = sha256 = ""
            phones = []
            for ident in profile.get("user_identities") or []:
                kind, value = ident.get("type"), str(ident.get("value", ""))
                if kind == "email" and not sha256:
                    if ident.get("encoding", "raw") == "sha256":
                        v = value.strip().lower()
                        if re.fullmatch(r"[0-9a-f]{64}", v):
                            sha256 = v
                        continue
                    e = value.strip().lower()
                    if EMAIL.match(e):
                        b = e.encode()
                        md5 = hashlib.md5(b).hexdigest()
                        sha1 = hashlib.sha1(b).hexdigest()
                        sha256 = hashlib.sha256(b).hexdigest()
                elif kind in ("mobile_number", "phone_number_2", "phone_number_3"):
                    p = phone(value)
                    if p and p not in phones:
                        phones.append(p)
            if "$Mobile" in attrs:
                p = phone(str(attrs["$Mobile"]))
                if p and p not in phones:
                    phones.append(p)
            phone_hashes = [hashlib.sha1(p.encode()).hexdigest() for p in phones[:2]]
            if not sha256 and not phone_hashes:
                continue
            phone_hashes += [""] * (2 - len(phone_hashes))
            state = text(attrs.get("$State", "")).upper()
            state = STATES.get(state, state if state in CODES else "")
            country = COUNTRIES.get(text(attrs.get("$Country", "")).upper(), "")
            zip_digits = re.sub(r"[\s-]", "", str(attrs.get("$Zip", "")))
            zip_code = zip_digits if re.fullmatch(r"\d{5}|\d{9}", zip_digits) else ""
            pii.writerow([text(attrs.get("$FirstName", "")), text(attrs.get("$LastName", "")),
                          text(attrs.get("$City", "")), state, zip_code, country,
                          md5, sha1, sha256] + phone_hashes)
            pii_rows += 1
    for path in (device_path, pii_path):
        subprocess.run(["gpg", "--homedir", gnupg_home, "--batch", "--quiet", "--no-tty",
                        "--trust-model", "always", "--compress-algo", "none", "--yes",
                        "--recipient", recipient, "--output", path + ".gpg", "--encrypt", path],
                       check=True)
    print(json.dumps({"members": members, "device_rows": device_rows, "pii_rows": pii_rows}))


if __name__ == "__main__":
    main()
