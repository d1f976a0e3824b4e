#!/usr/bin/env bash
# Render a deployable copy of the Salesforce metadata whose two Outbound Messages (Task and Event)
# send to your stack, as your integration user.
#
#   OUTBOUND_MESSAGE_TOKEN=... salesforce/scripts/configure-outbound-messages.sh <SalesforceOutboundMessageUrl> <integration-username>
#   aws ssm get-parameter ... | salesforce/scripts/configure-outbound-messages.sh <url> <username>
#
# <SalesforceOutboundMessageUrl> is the stack output of that name, for example
#   https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/salesforce/outbound-messages
# <integration-username> is the Salesforce username of the integration user (it must exist before you
# deploy: Salesforce refuses an Outbound Message whose user it does not know).
# The token is the stack's outbound message token, the SecureString you created (README, "Secrets"),
# taken from OUTBOUND_MESSAGE_TOKEN or, when that is unset, from standard input (typed without echo
# at a terminal) - never from the command line, where it would land in the shell history:
#   aws ssm get-parameter --with-decryption --query Parameter.Value --output text \
#     --name /activity-sync/<Stage>/webhooks/outbound-message-token | salesforce/scripts/configure-outbound-messages.sh ...
# The receiver accepts Outbound Messages only on <SalesforceOutboundMessageUrl>/<token>.
#
# The tracked files keep their placeholders: the script writes the SFDX project, endpoint and user
# filled in, to salesforce/.deploy/ (ignored by git; --out DIR for another place), and prints the
# command that deploys it. Run it again to change the endpoint.
set -euo pipefail

die() {
  echo "error: $*" >&2
  exit 2
}

project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$project/.deploy"
arguments=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) [[ $# -ge 2 ]] || die "--out needs a directory"; out=$2; shift 2 ;;
    *) arguments+=("$1"); shift ;;
  esac
done
[[ ${#arguments[@]} -eq 2 ]] ||
  die "usage: OUTBOUND_MESSAGE_TOKEN=... $0 <SalesforceOutboundMessageUrl> <integration-username> [--out DIR]"
url=${arguments[0]}
user=${arguments[1]}

token=${OUTBOUND_MESSAGE_TOKEN:-}
if [[ -z $token ]]; then
  if [[ -t 0 ]]; then
    read -rsp "Outbound message token: " token
    echo >&2
  else
    IFS= read -r token || true
  fi
fi

# Only characters that are safe in a sed replacement and in XML text, and the receiver's route.
[[ $url =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~-]+)*/webhooks/salesforce/outbound-messages$ ]] ||
  die "'$url' is not an https URL ending in /webhooks/salesforce/outbound-messages (copy the stack output SalesforceOutboundMessageUrl)"
[[ $user =~ ^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$ ]] ||
  die "'$user' does not look like a Salesforce username (name@domain)"
[[ -n $token ]] || die "no token: set OUTBOUND_MESSAGE_TOKEN or pipe it in (see the comment at the top)"
[[ $token =~ ^[A-Za-z0-9_-]{32,128}$ ]] ||
  die "the token must be 32 to 128 letters, digits, '-' or '_' (e.g. openssl rand -hex 32)"
endpoint="$url/$token"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
[[ $out != "$project" && $out != "$project/force-app"* ]] || die "--out must not be the tracked project"
rm -rf "$out/force-app"
cp -r "$project/force-app" "$project/sfdx-project.json" "$out/"
chmod -R go-rwx "$out"  # it holds the token
workflows="$out/force-app/main/default/workflows"
for object in Task Event; do
  file="$workflows/$object.workflow-meta.xml"
  [[ -f $file ]] || die "missing $file"
  sed -i.bak \
    -e "s#<endpointUrl>[^<]*</endpointUrl>#<endpointUrl>$endpoint</endpointUrl>#" \
    -e "s#<integrationUser>[^<]*</integrationUser>#<integrationUser>$user</integrationUser>#" \
    "$file"
  rm -f "$file.bak"
  grep -q "<endpointUrl>$endpoint</endpointUrl>" "$file" || die "could not set the endpoint in $file"
  grep -q "<integrationUser>$user</integrationUser>" "$file" || die "could not set the user in $file"
  echo "$object: endpoint $url/<token>, sent as $user"
done
echo "Deploy it: cd $out && sf project deploy start --source-dir force-app --target-org <your-org>"
