"""The API dashboard at /admin/api-dashboard/: pool health and where the quota goes."""
