"""The catalog: the one reader of each read-only file that the jobs and the service both need.

Reference tables (INSEE COG communes, NAF rev.2), the territory statistics, postal codes, commune contours,
the site-potential store, and the reading rule of the chambers' tabular files. `models/` stays pure code:
it is handed what this package reads. `pipelines/` and `service/` both import it; it imports neither.
"""
