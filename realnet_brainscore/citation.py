"""How to cite ReAlnet: one BibTeX entry, shared by the benchmarks and the submission plugins."""
REALNET_BIBTEX = '''@article{lu2026realnet,
  title={Achieving more human brain-like vision via human {EEG} representational alignment},
  author={Lu, Zitong and Wang, Yile and Golomb, Julie D.},
  journal={Communications Biology}, year={2026}}'''
