# PartialLoading companion: `make book` and `make test` do all set-up on a fresh machine.
# Each creates .venv (pinned by requirements/lock.txt) if it is absent, then does its job.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

MATHJAX_VERSION := 3.2.2
MATHJAX := vendor/mathjax/tex-mml-chtml.js

ASSIGNMENTS := $(sort $(wildcard assignments/*.ipynb))
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
EXECUTED  := $(patsubst notebooks/%.ipynb,book/executed/%.ipynb,$(NOTEBOOKS))
LIBRARY   := $(shell find plcore -name '*.py' 2>/dev/null) $(shell find data -type f 2>/dev/null) pyproject.toml

# Notebooks and the book never reach the network; matplotlib draws off-screen.
export MPLBACKEND := agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: all venv test test-portable test-fast refresh-notebooks results book student-book test-book bench \
        assignments grade clean distclean \
        pdf

all: book

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
	    -c requirements/lock.txt -e '.[torch,serve,book,test,teach]'
	touch $@

## test: the library's tests and every notebook (quick parameters) through nbval
test: $(STAMP)
	PLCORE_QUICK=1 PLCORE_RESULTS=$(CURDIR)/_build/test-results \
	    $(BIN)/python -m pytest tests notebooks --nbval-lax --doctest-modules plcore \
	    --nbval-cell-timeout=600 -p no:cacheprovider

## test-portable: the notebooks through nbval as on another CPU: numpy's AVX2/AVX-512 kernels off
# and one BLAS thread. Checked outputs are rounded to what the book shows, so they must still match.
test-portable: $(STAMP)
	NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR" OMP_NUM_THREADS=1 \
	    OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PLCORE_QUICK=1 \
	    PLCORE_RESULTS=$(CURDIR)/_build/test-portable $(BIN)/python -m pytest notebooks \
	    --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider

## refresh-notebooks: re-execute the committed notebooks in place with quick parameters, so the
# outputs that nbval compares (cells marked NBVAL_CHECK_OUTPUT) are current. Commit the result.
refresh-notebooks: $(STAMP)
	for nb in $(NOTEBOOKS); do \
	    PLCORE_QUICK=1 PLCORE_RESULTS=$(CURDIR)/_build/test-results \
	        $(BIN)/python -m plcore.study.notebook_runner $$nb $$nb || exit 1; done

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -x -q -p no:cacheprovider

## results: execute every notebook with papermill (default parameters) into book/executed/.
# A notebook re-runs when it, the library or the data change: the book's own cache would not notice.
results: $(EXECUTED)

book/executed/%.ipynb: notebooks/%.ipynb $(LIBRARY) $(STAMP)
	@mkdir -p $(@D)
	$(BIN)/python -m plcore.study.notebook_runner $< $@

## book: results, then the HTML book, warnings as errors (MathJax served from the book itself)
book: results $(MATHJAX)
	$(BIN)/jupyter-book build . --all -W -n --keep-going
	@echo "Book: file://$(CURDIR)/_build/html/index.html"

## student-book: the same book with the exercise solutions hidden, in _build/student/; the pages'
# downloadable sources are stripped of them too (book/_ext/strip_solutions.py)
student-book: results $(MATHJAX)
	$(BIN)/python scripts/book_config.py student _build/student_config.yml
	$(BIN)/jupyter-book build . --all -W -n --keep-going --config _build/student_config.yml \
	    --path-output _build/student
	@echo "Student book: file://$(CURDIR)/_build/student/_build/html/index.html"
	@! grep -rl '{solution' _build/student/_build/html/_sources || \
	    (echo "student-book: solutions left in the downloadable sources above" && false)

## test-book: build the book, then check it in headless Chromium (math typeset, figures present;
# a screenshot per chapter in _build/screenshots/). Installs Debian's chromium if it is missing.
test-book: book
	command -v chromium > /dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python scripts/check_book.py

## pdf: results, then the book as one PDF through xelatex, offline: _build/latex/partialloading.pdf
# Installs Debian's TeX if xelatex is missing (34 packages, about 480 MB with the formats; 2 min).
# MathJax is not needed: the book's config without the vendored folder, warnings as errors; a glyph
# missing from a font (dropped silently by xelatex) fails the build too.
PDF_TEX := texlive-xetex texlive-fonts-recommended latexmk fonts-freefont-otf xindy
pdf: results
	command -v xelatex > /dev/null && command -v xindy > /dev/null && \
	    kpsewhich FreeSerif.otf > /dev/null || \
	    (apt-get update -qq && apt-get install -y -qq --no-install-recommends $(PDF_TEX))
	$(BIN)/python scripts/book_config.py pdf _build/pdf_config.yml
	rm -rf _build/latex
	$(BIN)/jupyter-book build . --all -W -n --keep-going --builder pdflatex \
	    --config _build/pdf_config.yml
	! grep -A1 '^Missing character' _build/latex/partialloading.log
	@echo "PDF: $$(grep -c '^Overfull \\hbox' _build/latex/partialloading.log) lines past the" \
	    "margin (Overfull \\hbox in _build/latex/partialloading.log)"
	@echo "PDF: $(CURDIR)/_build/latex/partialloading.pdf"

# MathJax 3 from the npm registry, so formulas render without internet when the book is read.
$(MATHJAX):
	rm -rf vendor/mathjax _build/mathjax-pack && mkdir -p vendor/mathjax _build/mathjax-pack
	cd _build/mathjax-pack && npm pack --silent mathjax@$(MATHJAX_VERSION) > /dev/null && \
	    tar xzf mathjax-$(MATHJAX_VERSION).tgz
	cp _build/mathjax-pack/package/es5/tex-mml-chtml.js vendor/mathjax/
	mkdir -p vendor/mathjax/output/chtml/fonts
	cp -r _build/mathjax-pack/package/es5/output/chtml/fonts/woff-v2 vendor/mathjax/output/chtml/fonts/

## bench: every benchmarks/bench_*.py (solvers, online simulator, ...; not part of `make test`):
# CPU-time medians of at least 5 runs with their spread; CSVs under results/bench/
BENCHES := $(sort $(wildcard benchmarks/bench_*.py))
bench: $(STAMP)
	for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## assignments: otter-grader builds each master notebook of assignments/ into
# _build/assignments/NAME/student/ (hand out) and NAME/autograder.zip (grade), checking that the
# solutions pass every test.
assignments: $(STAMP)
	for nb in $(ASSIGNMENTS); do name=$$(basename $$nb .ipynb); out=_build/assignments/$$name; \
	    rm -rf $$out && $(BIN)/otter assign $$nb $$out || exit 1; \
	    cp $$out/autograder/$$name-autograder_*.zip $$out/autograder.zip; done

## grade: grade a folder of submissions without Docker, e.g.
#   make grade NAME=a1_least_bandwidth SUBMISSIONS=path/to/folder   (scores in FOLDER/scores.csv)
grade: $(STAMP)
	$(BIN)/python scripts/grade_submissions.py _build/assignments/$(NAME)/autograder.zip $(SUBMISSIONS)

clean:
	rm -rf _build book/executed vendor

distclean: clean
	rm -rf $(VENV) results
