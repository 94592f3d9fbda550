#!/usr/bin/env bash
# The e2e cluster's add-ons and app, on a kind cluster named canary-gate: ingress-nginx with its
# metrics scraped by Prometheus, podinfo with a load generator. Writes a kubeconfig and the
# Prometheus address that the canary-gate container can use into the workspace.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
helm repo add ingress-nginx https://kubernetes.github.io/ingress-nginx
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts
helm upgrade --install ingress-nginx ingress-nginx/ingress-nginx --version 4.12.1 \
  --namespace ingress-nginx --create-namespace --wait \
  --set controller.service.type=ClusterIP \
  --set controller.metrics.enabled=true \
  --set-string 'controller.podAnnotations.prometheus\.io/scrape=true' \
  --set-string 'controller.podAnnotations.prometheus\.io/port=10254'
helm upgrade --install prometheus prometheus-community/prometheus --version 27.11.0 \
  --namespace monitoring --create-namespace --wait \
  --set alertmanager.enabled=false --set prometheus-pushgateway.enabled=false \
  --set kube-state-metrics.enabled=false --set prometheus-node-exporter.enabled=false \
  --set server.global.scrape_interval=5s
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: test}
YAML
kubectl apply -f "$here/app.yaml"
kubectl -n test rollout status deploy/podinfo --timeout=180s
kubectl -n test rollout status deploy/load --timeout=180s

# The container reaches the runner at its own address, not 127.0.0.1.
host="$(hostname -I | awk '{print $1}')"
kubectl -n monitoring port-forward --address 0.0.0.0 svc/prometheus-server 9090:80 >/dev/null 2>&1 &
kind get kubeconfig --name canary-gate \
  | sed "s#server: https://0.0.0.0:6443#server: https://${host}:6443#" > "$GITHUB_WORKSPACE/.e2e-kubeconfig"
# The API certificate does not name the runner's address; this throwaway cluster skips the check.
kubectl --kubeconfig "$GITHUB_WORKSPACE/.e2e-kubeconfig" config set-cluster kind-canary-gate \
  --insecure-skip-tls-verify=true >/dev/null
kubectl --kubeconfig "$GITHUB_WORKSPACE/.e2e-kubeconfig" config unset clusters.kind-canary-gate.certificate-authority-data >/dev/null
echo "prometheus=http://${host}:9090" >> "$GITHUB_OUTPUT"
