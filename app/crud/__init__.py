"""All reads and writes of the job store, as keyword-only functions taking a session; one
module per resource (`keys`, `images`, `jobs` and `job_runs`, `campaigns`, `styles`,
`model_files`, `image_sets`), `retention`'s queries across them, and the `locks` a transaction
holds. Callers use the package (`from app import crud; crud.get_job(...)`), which re-exports
every public function.

One rule for writes: routes and tasks never add, delete or commit themselves; every public
function here that writes commits its own transaction, and what must land together (a job and
its images, a set and its members, checks and digest) is one function. Private `_add_*` helpers
add rows without committing, for those functions; they are private to this package (its modules
import them from one another, nothing outside does).

Status changes that race with other processes (claim, progress, finish, reap) are single
conditional UPDATEs, so two workers or a worker and the reaper can never both win.
"""

from app.crud.campaigns import (
    campaign_children,
    cancel_campaign,
    create_campaign,
    finish_campaign_if_done,
    finish_ended_campaigns,
    get_campaign,
    get_campaign_by_idempotency_key,
)
from app.crud.ids import new_id
from app.crud.image_sets import (
    add_set_images,
    create_image_set,
    delete_image_set,
    get_image_set,
    get_set_member,
    get_set_stats,
    get_style_set_member,
    list_image_sets,
    remove_set_member,
    save_set_stats,
    set_members,
)
from app.crud.images import get_image, require_image, store_image
from app.crud.job_runs import claim_job, finish_job, heartbeat, reap
from app.crud.jobs import (
    create_stylization,
    create_training,
    create_video,
    encode_cursor,
    finished_durations,
    get_job,
    get_job_by_idempotency_key,
    is_finished,
    job_counts,
    list_jobs,
    mark_dispatched,
    record_webhook_attempt,
    request_cancel,
    stage_timings,
)
from app.crud.keys import (
    count_jobs_since,
    count_unfinished_jobs,
    create_api_key,
    get_api_key,
    get_api_key_by_id,
    has_admin_key,
    list_api_keys,
    set_key_limits,
)
from app.crud.locks import lock_files, lock_key
from app.crud.model_files import (
    activate_model,
    create_model,
    get_active_model,
    get_exported_graph,
    get_model,
    get_model_by_training_job,
    list_activations,
    list_models,
    register_builtin_model,
    register_trained_model,
    rollback_target,
    save_exported_graph,
)
from app.crud.retention import (
    delete_styles_of,
    expirable_jobs,
    files_in_use,
    job_files,
    mark_expired,
    owned_jobs,
)
from app.crud.styles import (
    create_style,
    delete_style,
    get_style,
    get_style_stats,
    list_styles,
    register_builtin_styles,
    save_style_stats,
)
from app.db import utcnow

__all__ = [
    "activate_model",
    "add_set_images",
    "campaign_children",
    "cancel_campaign",
    "claim_job",
    "count_jobs_since",
    "count_unfinished_jobs",
    "create_api_key",
    "create_campaign",
    "create_image_set",
    "create_model",
    "create_style",
    "create_stylization",
    "create_training",
    "create_video",
    "delete_image_set",
    "delete_style",
    "delete_styles_of",
    "encode_cursor",
    "expirable_jobs",
    "files_in_use",
    "finish_campaign_if_done",
    "finish_ended_campaigns",
    "finish_job",
    "finished_durations",
    "get_active_model",
    "get_api_key",
    "get_api_key_by_id",
    "get_campaign",
    "get_campaign_by_idempotency_key",
    "get_image",
    "get_image_set",
    "get_job",
    "get_job_by_idempotency_key",
    "get_model",
    "get_model_by_training_job",
    "get_set_member",
    "get_set_stats",
    "get_style",
    "get_style_set_member",
    "get_exported_graph",
    "get_style_stats",
    "has_admin_key",
    "heartbeat",
    "is_finished",
    "job_counts",
    "job_files",
    "list_activations",
    "list_api_keys",
    "list_image_sets",
    "list_jobs",
    "list_models",
    "list_styles",
    "lock_files",
    "lock_key",
    "mark_dispatched",
    "mark_expired",
    "new_id",
    "owned_jobs",
    "reap",
    "record_webhook_attempt",
    "register_builtin_model",
    "register_builtin_styles",
    "register_trained_model",
    "remove_set_member",
    "request_cancel",
    "require_image",
    "rollback_target",
    "save_set_stats",
    "save_exported_graph",
    "save_style_stats",
    "set_key_limits",
    "set_members",
    "stage_timings",
    "store_image",
    "utcnow",
]
