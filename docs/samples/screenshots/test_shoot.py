import shoot

from pytest_liveasgi import LiveServer


def test_every_page_answers():
    with LiveServer("app:app") as server, server.client() as client:
        for path in shoot.PAGES.values():
            assert client.get(path).status_code == 200


def test_shoot_writes_one_png_per_page(tmp_path):
    shoot.main(tmp_path)
    for name in shoot.PAGES:
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
