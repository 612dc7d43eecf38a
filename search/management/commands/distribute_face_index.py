from django.core.management.base import BaseCommand, CommandError

from search.distribution import DistributionRefused, distribute_face_index


class Command(BaseCommand):
    help = ("Distribute the face index (photos, faces, duplicate keys) over the workers of a "
            "Citus coordinator, after migrate. The shard count is fixed from then on.")

    def add_arguments(self, parser):
        parser.add_argument("--shards", type=int, required=True,
                            help="number of shards of each distributed table (fixed afterwards)")

    def handle(self, *args, shards, **options):
        try:
            outcome = distribute_face_index(shards)
        except DistributionRefused as exc:
            raise CommandError(str(exc)) from exc
        for step in outcome.steps:
            self.stdout.write(step)
        if outcome.changed:
            self.stdout.write(
                f"The face index is distributed in {shards} shards. The shard count is fixed "
                f"from now on: Citus cannot change it for tables with identity columns. "
                f"Every other table stays on the coordinator.")
        else:
            self.stdout.write(f"The face index was already distributed in {shards} shards; "
                              f"nothing was changed. The shard count is fixed.")
