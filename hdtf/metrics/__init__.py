"""hdtf.metrics"""
