"""hdtf.face"""
