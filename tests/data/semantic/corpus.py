#!/usr/bin/env python3
"""Generates corpus.json: the recall corpus of tests in bins/claude-memd/embed/recall.rs (run it from anywhere)."""
import json, random, re
random.seed(17)
# (project, type, title, narrative, query) — the query shares no content word with its answer.
targets = [
("web-app","bugfix","Refresh the auth token before expiry","The client now renews the OAuth access token sixty seconds ahead of its expiry instead of waiting for a 401.","login keeps timing out"),
("web-app","bugfix","Debounce the autocomplete input","Each keystroke fired a request; a 250 ms debounce cut the calls to the suggestions endpoint by ninety percent.","typing in the lookup field floods the server"),
("billing","decision","Store money as integer cents","Floating point amounts produced rounding drift on invoices; all prices are now i64 cents.","bill sums are slightly wrong"),
("billing","bugfix","Idempotency key on the charge endpoint","Retried webhooks created duplicate charges; the payment call now carries an idempotency key.","customers were billed twice"),
("infra","change","Raise the file descriptor limit of the proxy","nginx hit EMFILE under load; LimitNOFILE is now 65536 in its unit.","gateway refuses connections during peak traffic"),
("infra","bugfix","Rotate journald logs by size","The disk filled with logs; SystemMaxUse=2G caps the journal.","server ran out of space"),
("ml-pipeline","discovery","GPU memory exhausted by the evaluation batch","Evaluation used batch 512 which does not fit the 16 GB card; 128 works.","CUDA OOM during validation"),
("ml-pipeline","change","Seed every random generator","numpy, torch and python's random now share one seed so experiments are reproducible.","results differ between identical runs"),
("mobile-app","bugfix","Keep the scroll position when returning to the feed","The list was rebuilt on back navigation; the adapter now restores its saved offset.","hitting previous screen forgets where I was"),
("mobile-app","change","Compress photos before upload","Images are resized to 1600 px and re-encoded at quality 80, cutting upload size fivefold.","sending pictures takes forever on cellular"),
("cli-tool","bugfix","Handle SIGPIPE when output is piped to head","The tool panicked with broken pipe; it now exits quietly.","program dies when its stdout goes to another command"),
("cli-tool","change","Colour output only on a terminal","ANSI escapes are emitted only when stdout is a tty and NO_COLOR is unset.","garbage symbols clutter the redirected log"),
("web-app","bugfix","Escape user names in the comment template","A display name with markup ran script in other visitors' browsers.","XSS vulnerability in posts"),
("web-app","change","Lazy-load below-the-fold images","Pictures outside the viewport load on scroll; first paint dropped from 3.1 s to 1.4 s.","homepage is slow to appear"),
("billing","discovery","Tax rates differ by shipping destination","VAT depends on the buyer's country, not the seller's; the old code used the warehouse address.","incorrect sales levy for international purchases"),
("billing","bugfix","Use UTC for subscription renewal dates","Renewals ran a day early for customers east of Greenwich.","memberships roll over prematurely for Tokyo users"),
("infra","decision","Terraform state in S3 with a DynamoDB lock","Two engineers applying at once corrupted state; remote state with locking prevents it.","concurrent infrastructure deploys clobber each other"),
("infra","bugfix","Renew the TLS certificate automatically","The certificate lapsed over a weekend; certbot's timer now renews it thirty days early.","browsers warn that the site is not secure"),
("ml-pipeline","bugfix","Shuffle the training data each epoch","Loss plateaued because batches arrived in sorted order.","model stops learning after a few passes"),
("ml-pipeline","decision","Track experiments in MLflow","Metrics were scattered over notebooks; every run now logs parameters and scores to one server.","where do we record hyperparameters and accuracy"),
("mobile-app","bugfix","Request notification permission on Android 13","POST_NOTIFICATIONS must be asked at runtime; pushes were silently dropped.","alerts never appear on recent handsets"),
("mobile-app","discovery","Battery drain from a wake lock held by the sync service","The background sync kept the CPU awake after finishing.","phone gets hot and discharges quickly"),
("cli-tool","change","Read configuration from XDG_CONFIG_HOME","The dotfile in the home directory moved to ~/.config/tool/config.toml.","settings file location"),
("cli-tool","bugfix","Quote paths with spaces when spawning the editor","Opening a file under 'My Documents' failed.","names containing whitespace break launching"),
("web-app","decision","Move sessions from cookies to Redis","Cookie size limits broke large carts; the cookie now holds only an opaque id.","shopping basket empties unexpectedly"),
("web-app","bugfix","Add CSRF tokens to forms","Cross-site posts could change a user's email address.","malicious page forges actions on behalf of logged-in people"),
("billing","change","Send dunning emails before cancelling","Failed cards now get three reminders over nine days before the plan lapses.","members cut off abruptly after a declined charge"),
("billing","bugfix","Lock the row when applying a coupon","Two simultaneous checkouts could redeem a single-use code twice.","discount voucher used more than once"),
("infra","change","Add a readiness probe to the API pods","Traffic reached pods before migrations finished; Kubernetes now waits for /ready.","requests fail right after deploying"),
("infra","bugfix","Pin the base image digest","An upstream image update changed glibc and broke the build.","container compilation started failing by itself"),
("ml-pipeline","change","Quantize the model to int8 for serving","Inference latency fell from 80 ms to 25 ms with 0.3 points less accuracy.","predictions are too slow in production"),
("ml-pipeline","bugfix","Drop duplicated rows leaking between train and test","The same customers appeared in both splits, inflating the score.","validation accuracy suspiciously high"),
("mobile-app","change","Cache API responses for offline use","The last fetched feed is stored on device and shown without a connection.","app is blank on the subway"),
("mobile-app","bugfix","Fix dark mode contrast of disabled buttons","Grey text on a dark grey background was unreadable.","inactive toggles illegible in the night theme"),
("cli-tool","change","Parallelise file hashing with rayon","Hashing 40,000 files now uses every core; the scan went from 50 s to 14 s.","checksumming a big folder is sluggish"),
("cli-tool","decision","Semantic versioning and a changelog for releases","Users could not tell breaking updates apart; releases now follow semver.","how do people know whether an upgrade is safe"),
("web-app","bugfix","Release database connections on request timeout","The pool ran dry after slow queries were abandoned.","site hangs under heavy traffic until restart"),
("billing","decision","Reconcile with the bank statement nightly","A job compares ledger entries to settlements and flags mismatches.","money missing between what we charged and what arrived"),
("infra","change","Alert when replication lag exceeds thirty seconds","The read replica fell minutes behind without anyone noticing.","outdated rows served by the follower"),
("ml-pipeline","discovery","Tokenizer lowercases product codes","SKUs like AB12 and ab12 collapse, which merges distinct items.","separate article numbers treated as identical"),
("mobile-app","bugfix","Retry uploads with exponential backoff","Flaky networks lost photos; failed transfers now retry up to five times.","images vanish when reception is poor"),
("cli-tool","bugfix","Respect the umask when creating files","Generated files were world-writable.","other accounts can overwrite its results"),
("web-app","change","Serve assets with long cache headers and hashed names","Browsers refetched bundles on every visit.","repeat guests pull the JavaScript anew"),
("billing","bugfix","Round currency conversion half to even","Sums of converted line items disagreed with the converted total.","foreign money arithmetic does not add up"),
("infra","decision","Blue-green deployments for the API","Switching the load balancer between two stacks lets a release roll back in seconds.","how to revert a faulty version fast"),
]
# Queries that share words with their answer: lexical finds these; hybrid must keep them.
lexical = [
("web-app","change","Upgrade React to version 18","Concurrent rendering and automatic batching; tests updated for the new root API.","React 18 upgrade"),
("billing","change","Stripe webhook signature verification","Incoming Stripe events are verified with the signing secret before processing.","Stripe webhook signature"),
("infra","change","Prometheus scrape interval set to 15 seconds","The default one-minute interval hid short latency spikes.","Prometheus scrape interval"),
("ml-pipeline","change","Early stopping on validation loss","Training halts after five epochs without improvement.","early stopping"),
("mobile-app","change","Deep links for the settings screen","myapp://settings opens the preferences page directly.","deep links settings"),
("cli-tool","change","Shell completions for bash zsh and fish","Completions are generated with clap_complete at build time.","shell completions fish"),
("web-app","bugfix","Timezone offset in the event calendar","Events showed an hour late after daylight saving changed.","calendar timezone offset"),
("billing","change","PDF invoices rendered with Typst","Invoices are typeset from a template instead of HTML printing.","PDF invoices Typst"),
("infra","bugfix","Postgres vacuum starved by long transactions","An idle-in-transaction session blocked autovacuum for days.","postgres vacuum idle transaction"),
("ml-pipeline","change","Feature store backed by Parquet files","Features are materialised daily to partitioned Parquet on S3.","parquet feature store"),
("mobile-app","bugfix","Crash on rotation in the video player","The player fragment was recreated without its state.","video player rotation crash"),
("cli-tool","change","JSON output flag for every command","--json prints machine-readable results for scripting.","json output flag"),
]
# Distractors: realistic everyday work across the same projects.
comps = {
"web-app":["router","checkout page","profile form","search results page","navbar","admin dashboard","signup wizard","comment thread","image gallery","cart drawer"],
"billing":["invoice generator","ledger service","refund handler","tax calculator","plan catalog","payout scheduler","receipt mailer","usage meter"],
"infra":["load balancer","CI runners","backup job","DNS records","metrics stack","staging cluster","secrets vault","log shipper"],
"ml-pipeline":["data loader","feature extraction","training loop","evaluation script","labeling tool","embedding service","batch scorer"],
"mobile-app":["onboarding screens","map view","chat screen","settings page","camera module","widget","login screen"],
"cli-tool":["argument parser","progress bar","config loader","update checker","archive extractor","diff printer","plugin loader"],
}
acts = [
("change","Refactored the {c} into smaller modules","Split the {c} so each part has one job; no behaviour change, tests unchanged."),
("change","Added unit tests for the {c}","Covered edge cases of the {c} including empty input and unicode."),
("change","Renamed confusing variables in the {c}","Names now say what they hold; reviewers found the old ones misleading."),
("change","Upgraded dependencies of the {c}","Bumped minor versions; one deprecation warning fixed along the way."),
("discovery","Read how the {c} handles errors","Errors are logged and swallowed in two places; noted for a later cleanup."),
("discovery","Profiled the {c}","Most time goes into JSON serialization; allocation counts are moderate."),
("bugfix","Fixed an off-by-one in the {c}","The last element was skipped when the length was a multiple of the page size."),
("bugfix","Fixed a null dereference in the {c}","An optional field was assumed present; it is now checked."),
("decision","Keep the {c} synchronous for now","Async would complicate the code for no measured gain."),
("feature","Added a configuration option to the {c}","The new setting defaults to the old behaviour."),
]
obs = []
def add(p,t,title,narr,key=None):
    obs.append({"key":key or f"d{len(obs)}","project":p,"type":t,"title":title,"narrative":narr})
queries=[]
for i,(p,t,title,narr,q) in enumerate(targets):
    add(p,t,title,narr,f"s{i}"); queries.append({"q":q,"answer":f"s{i}","kind":"meaning"})
for i,(p,t,title,narr,q) in enumerate(lexical):
    add(p,t,title,narr,f"l{i}"); queries.append({"q":q,"answer":f"l{i}","kind":"words"})
pairs=[(p,c,a) for p,cs in comps.items() for c in cs for a in acts]
random.shuffle(pairs)
for p,c,(t,title,narr) in pairs[:170]:
    add(p,t,title.format(c=c),narr.format(c=c))
random.shuffle(obs)
json.dump({"observations":obs,"queries":queries}, open(__file__.replace("corpus.py", "corpus.json"), "w"), indent=0)
# check no shared content words for meaning queries
stop=set("a an the of to in on for and or is are was were be by with without from at as it its this that do we how why where what when whose which i my me into out up down after before than then our too not no new each every".split())
def words(s): return {w for w in re.findall(r"[a-z0-9]+", s.lower()) if w not in stop}
bykey={o["key"]:o for o in obs}
bad=0
for q in queries:
    if q["kind"]!="meaning": continue
    a=bykey[q["answer"]]; aw=words(a["title"]+" "+a["narrative"]); qw=words(q["q"])
    shared={w for w in qw for x in aw if w==x or (len(w)>=4 and len(x)>=4 and w[:4]==x[:4])}
    if shared: print("SHARED", q["q"], shared); bad+=1
print(len(obs), len(queries), bad)
