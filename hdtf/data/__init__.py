"""hdtf.data"""
