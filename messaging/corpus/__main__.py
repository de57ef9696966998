import sys

from messaging.corpus import corpus_evaluate, corpus_rows, report

result = corpus_evaluate(corpus_rows())
print(report(result))
sys.exit(1 if result.false_yes else 0)
