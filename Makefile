# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
# OpenMP threads that spin while waiting collapse on 2 busy cores (README: "Library use").
export OMP_WAIT_POLICY ?= PASSIVE
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test proof bench clean

# The venv is (re)built when pyproject.toml changes. pip takes torch 2.14.1 / torchvision
# 0.29.1 from this machine's local wheel store; everything else comes from PyPI.
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	$(BIN)/python -c "import vidgan, torch, av, cv2, mediapipe, ray.data, ray.train.torch, tensorboard, gradio"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/vidgan demo

test: $(INSTALLED)
	$(BIN)/python -m pytest

# Long proofs: tests marked `proof` (they call the bench/*_proof.py scripts and assert their goals).
proof: $(INSTALLED)
	$(BIN)/python -m pytest -m proof -s

# Benchmarks: every bench/*.py except the proofs (bench/*_proof.py and bench/transfer_quality.py,
# run by `make proof`).
bench: $(INSTALLED)
	@for script in bench/*.py; do case $$script in *_proof.py|*/transfer_quality.py) continue;; esac; \
		echo "== $$script"; PYTHONPATH=. $(BIN)/python $$script || exit 1; done

clean:
	rm -rf out .pytest_cache
