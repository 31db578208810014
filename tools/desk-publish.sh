#!/usr/bin/env bash
# Publishes the built web desk (desk/dist) to the bucket of a deployed stack and invalidates
# its page at CloudFront. See docs/deploy.md, "The web desk".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<'EOF'
Usage: tools/desk-publish.sh --stack NAME [--dist DIR] [--region REGION] [--profile PROFILE] [--dry-run]

Uploads the built web desk to the stack's bucket (output DeskBucketName) and invalidates
/index.html at its CloudFront distribution (output DeskDistributionId). Build it first:
`make -C desk build` or `npm --prefix desk run build`.

  --stack NAME       the deployed stack (its outputs DeskBucketName, DeskDistributionId, DeskUrl)
  --dist DIR         the built app (default: desk/dist); DIR/index.html must exist
  --region REGION    the stack's region (default: the AWS CLI's)
  --profile PROFILE  the AWS CLI profile (default: the AWS CLI's)
  --dry-run          show what would be uploaded and deleted (aws s3 sync --dryrun); no upload,
                     no invalidation (the stack's outputs are still read)
  -h, --help         this help

Order: assets/* first (hashed names, immutable: Cache-Control "public, max-age=31536000,
immutable"), then index.html and the other files (Cache-Control "no-cache": every load asks
again), then the files no longer in the build are deleted (--delete), then /index.html is
invalidated. config.json is never uploaded: the distribution answers /config.json itself
(DeskConfigFunction, written by the stack); a config.json in DIR is left out.
Needs the AWS CLI v2 and credentials allowed s3:ListBucket, s3:PutObject and s3:DeleteObject on
the bucket, cloudformation:DescribeStacks and cloudfront:CreateInvalidation.
EOF
}

die() {
  printf 'desk-publish: %s\n' "$*" >&2
  exit 1
}

stack="" dist="$ROOT/desk/dist" dry_run=0
aws_opts=()
while (($#)); do
  case "$1" in
    --stack) [[ -n "${2:-}" ]] || die "--stack needs a stack name"; stack="$2"; shift 2 ;;
    --stack=*) stack="${1#*=}"; shift ;;
    --dist) [[ -n "${2:-}" ]] || die "--dist needs a directory"; dist="$2"; shift 2 ;;
    --dist=*) dist="${1#*=}"; shift ;;
    --region) [[ -n "${2:-}" ]] || die "--region needs a region"; aws_opts+=(--region "$2"); shift 2 ;;
    --region=*) aws_opts+=(--region "${1#*=}"); shift ;;
    --profile) [[ -n "${2:-}" ]] || die "--profile needs a profile"; aws_opts+=(--profile "$2"); shift 2 ;;
    --profile=*) aws_opts+=(--profile "${1#*=}"); shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ -n "$stack" ]] || { usage >&2; die "--stack is required"; }

# The build, before anything is asked of AWS.
if [[ ! -f "$dist/index.html" ]]; then
  die "$dist/index.html is missing: build the desk first (make -C desk build, or npm --prefix desk run build), or give --dist"
fi
dist="$(cd "$dist" && pwd)"
if [[ -e "$dist/config.json" ]]; then
  printf 'desk-publish: leaving out %s (the distribution serves /config.json from the stack)\n' "$dist/config.json" >&2
fi
command -v aws >/dev/null 2>&1 || die "the AWS CLI (aws) is not installed"
# The AWS CLI with --region/--profile if given (an empty array is unset to bash 3.2's set -u).
awscli() { aws ${aws_opts[@]+"${aws_opts[@]}"} "$@"; }

output() {
  local value
  value="$(awscli cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text)" ||
    die "cannot read the outputs of stack $stack"
  [[ -n "$value" && "$value" != "None" ]] || die "stack $stack has no output $1 (deploy the template with the web desk first)"
  printf '%s' "$value"
}
bucket="$(output DeskBucketName)"
distribution="$(output DeskDistributionId)"
url="$(output DeskUrl)"

sync_opts=(--only-show-errors)
((dry_run)) && sync_opts=(--dryrun)
immutable="public, max-age=31536000, immutable"

printf '==> %s -> s3://%s (stack %s)\n' "$dist" "$bucket" "$stack" >&2
# 1. The hashed files first: the new index.html must never name a file not yet there.
if [[ -d "$dist/assets" ]]; then
  awscli s3 sync "$dist/assets" "s3://$bucket/assets" "${sync_opts[@]}" \
    --exclude "config.json" --cache-control "$immutable"
fi
# 2. index.html and the other files, asked again on every load; files gone from the build
#    (outside assets/) deleted. config.json is never uploaded.
awscli s3 sync "$dist" "s3://$bucket" "${sync_opts[@]}" --delete \
  --exclude "assets/*" --exclude "config.json" --cache-control "no-cache"
# 3. The previous builds' hashed files, now that index.html names the new ones.
if [[ -d "$dist/assets" ]]; then
  awscli s3 sync "$dist/assets" "s3://$bucket/assets" "${sync_opts[@]}" --delete \
    --exclude "config.json" --cache-control "$immutable"
fi

if ((dry_run)); then
  printf '==> dry run: no invalidation of /index.html at %s\n' "$distribution" >&2
  exit 0
fi
# 4. The app's page, at every edge location (every route of the app is /index.html).
invalidation="$(awscli cloudfront create-invalidation --distribution-id "$distribution" \
  --paths /index.html --query Invalidation.Id --output text)"
printf '==> published: %s (invalidation %s of /index.html at %s)\n' "$url" "$invalidation" "$distribution" >&2
