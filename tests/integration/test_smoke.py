def test_import_and_get(admin, files):
    manifest = files.manifest()
    url = files.publish(manifest)
    r = admin.post("/image/centos", {"manifest_url": url, "dc": "main"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "SUCCESS"
    assert body["result"]["uuid"] == manifest["uuid"]
    r = admin.get("/image/centos", params={"extended": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["dcs"] == ["main"]
