#!/usr/bin/env python3
"""Runs the whole suite with pytest (in parallel) and ends with the line
"N passed, N failed, N skipped" counted from the JUnit report."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    report = os.path.join(ROOT, "build", "test-results.xml")
    jobs = os.environ.get("VIREO_TEST_JOBS", str(max(2, os.cpu_count() or 2)))
    cmd = [sys.executable, "-m", "pytest", "-n", jobs, "--dist", "loadgroup",
           "-p", "no:cacheprovider",
           "-rs", "--junitxml", report] + sys.argv[1:]
    rc = subprocess.call(cmd, cwd=ROOT)
    passed = failed = skipped = 0
    try:
        for case in ET.parse(report).getroot().iter("testcase"):
            tags = {child.tag for child in case}
            if tags & {"failure", "error"}:
                failed += 1
            elif "skipped" in tags:
                skipped += 1
            else:
                passed += 1
    except (OSError, ET.ParseError) as e:
        print(f"run.py: no test report ({e})")
        failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    if rc == 5 or passed + failed == 0:
        return 1   # no tests ran: that is a failure, not a pass
    return 0 if failed == 0 and rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
