"""hdtf.sources"""
