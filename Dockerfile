# The project's Airflow image: the official Airflow 3.3 image plus requirements.txt (the same pins as `make install`).
# docker-compose.yaml builds it once and runs every Airflow service and the local SageMaker from it.
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}-python3.11

# requirements.txt pins apache-airflow itself; installing it next to the image's own version keeps pip from
# up- or downgrading Airflow underneath the image (the official "extend the image" recipe).
ARG AIRFLOW_VERSION
COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /requirements.txt

# DAGs import light helpers from include/ and the operators from plugins/; compose mounts both over these.
ENV PYTHONPATH=/opt/airflow:/opt/airflow/plugins
COPY --chown=airflow:root include /opt/airflow/include
COPY --chown=airflow:root training_scripts /opt/airflow/training_scripts
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
# The local SageMaker's state: a new named volume takes this directory's owner (the image's airflow user).
RUN mkdir -p /opt/airflow/local-sagemaker
