"""The library's ``Resource`` moved from the core record (``rms``) to ``careplans`` by state-only
migrations: the table, its rows, its permissions and its audit log stay where they were."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from careplans.models import InformationPack, Pathway, PathwayResource, Resource, ResourceShare
from rms.models import TumourSite
from tests.careplans.library.helpers import resource

TABLE = "rms_resource"
BEFORE = [("careplans", "0009_plan_test_confirm_by"), ("rms", "0015_events_more_kinds")]


@pytest.mark.django_db
def test_the_model_keeps_the_core_records_table(team) -> None:  # type: ignore[no-untyped-def]
    assert Resource._meta.app_label == "careplans"
    assert Resource._meta.db_table == TABLE
    made = resource(team, title="Life after surgery")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT title, team_id, status FROM rms_resource WHERE id = %s",
            [made.pk],
        )
        assert cursor.fetchall() == [("Life after surgery", team.pk, "approved")]


def test_the_relations_point_at_the_moved_model_on_their_own_tables() -> None:
    assert PathwayResource._meta.get_field("resource").related_model is Resource
    assert ResourceShare._meta.get_field("resource").related_model is Resource
    for model, name, table in (
        (InformationPack, "resources", "careplans_informationpack_resources"),
        (ResourceShare, "included", "careplans_resourceshare_included"),
    ):
        field = model._meta.get_field(name)
        assert field.related_model is Resource
        through = field.remote_field.through  # type: ignore[union-attr]
        assert through._meta.db_table == table
        assert through._meta.get_field("resource").column == "resource_id"


def _migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_migrating_across_the_move_keeps_rows_permissions_and_content_type(team) -> None:  # type: ignore[no-untyped-def]
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    content_type = ContentType.objects.get(app_label="careplans", model="resource")
    permission_ids = set(content_type.permission_set.values_list("pk", flat=True))
    assert len(permission_ids) == 4
    # The seeded pathways are not there in a transactional test: one of its own.
    tagged = Pathway.objects.create(
        code="resource-move",
        name="A pathway",
        tumour_site=TumourSite.values[0],
        treatment="Surgery",
        description="For a tag",
    )
    try:
        # Back to before the move: the model is the core record's again, on the same table.
        executor = _migrate(BEFORE)
        old_apps = executor.loader.project_state(BEFORE).apps
        old_resource = old_apps.get_model("rms", "Resource")
        assert old_resource._meta.db_table == TABLE
        with pytest.raises(LookupError):
            old_apps.get_model("careplans", "Resource")
        ContentType.objects.clear_cache()
        assert ContentType.objects.get(pk=content_type.pk).app_label == "rms"
        old_pathway_resource = old_apps.get_model("careplans", "PathwayResource")
        row = old_resource.objects.create(
            team_id=team.pk, title="Written before the move", kind="link", url="https://a.nhs.uk/"
        )
        old_pathway_resource.objects.create(resource_id=row.pk, pathway_id=tagged.pk)
    finally:
        _migrate(leaves)
    ContentType.objects.clear_cache()
    moved = Resource.objects.get(pk=row.pk)
    assert moved.title == "Written before the move"
    assert [tag.resource_id for tag in PathwayResource.objects.filter(resource=moved)] == [row.pk]
    assert ContentType.objects.get_for_model(Resource).pk == content_type.pk
    assert (
        set(
            Permission.objects.filter(
                content_type__app_label="careplans", codename__endswith="_resource"
            ).values_list("pk", flat=True)
        )
        == permission_ids
    )
    assert not ContentType.objects.filter(app_label="rms", model="resource").exists()
