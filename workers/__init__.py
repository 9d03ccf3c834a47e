"""unspun: restore spun news articles, extract entities, stream enriched events.

Layout:
    workers.restoration  pure library: spun text in, restored text and edits out
    workers.entities     pure library: restored text in, entity mentions and summary out
    workers.pipeline     article dict in, enriched event dict out (both libraries together)
    workers.stream       Faust app, topics, thin agents, dead-letter policy, metrics
    workers.cli          the `unspun` command
"""

__version__ = "0.1.0"
