# Two commands on a fresh machine: `make demo` and `make test`.
# Both set up .venv themselves (Python >= 3.11 as python3, or PYTHON=...).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.veil-installed
DEMO_OUT := demo-out
DEMO_IN  := tests/data/short_hamilton_clip.mp4 tests/data/face_mask/maksssksksss230.jpg

.PHONY: demo test bench clean venv screenshots

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,review,cluster,bf16]'
	touch $(STAMP)

demo: $(STAMP)
	@rm -rf $(DEMO_OUT)
	@$(BIN)/veil anonymize $(DEMO_IN) -o $(DEMO_OUT); status=$$?; \
	echo ""; \
	echo "Outputs: $(CURDIR)/$(DEMO_OUT)/"; ls -1 $(DEMO_OUT) | sed 's/^/  /'; \
	echo "Report:  $(CURDIR)/$(DEMO_OUT)/veil-report.json"; \
	if [ -f $(DEMO_OUT)/veil-report.html ]; then echo "         $(CURDIR)/$(DEMO_OUT)/veil-report.html (open in a browser)"; fi; \
	exit $$status

test: $(STAMP)
	$(BIN)/python -m pytest

# The README's screenshot of veil review (docs/review.png), by the browser test harness.
screenshots: $(STAMP)
	VEIL_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/test_review_browser.py -k screenshot

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@echo "See bench/README.md for each benchmark's command."

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache build src/*.egg-info
