raise ImportError("this spec file is broken on purpose")


def build():  # never reached: the import fails first
    pass
