"""The null backend: no model, no work. Timing it measures the harness's own cost."""


class Backend(object):
    name = "null"
    needs_model = False

    def available(self):
        return True

    def why_unavailable(self):
        return None

    def load(self, artifact, options):
        pass

    def inputs(self):
        return []

    def run(self, feed):
        return None

    def info(self):
        return {"runtime": None, "version": None}
